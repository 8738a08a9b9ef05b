import { SchedulerRegistry } from '@nestjs/schedule';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotService } from '../../common/persistence/snapshot.service';
import { AppConfig } from '../../config/app-config';
import { hashApiKey } from '../domain/api-key';
import { InMemoryUserRepository } from './in-memory-user.repository';

describe('InMemoryUserRepository on disk (users.json + users.journal)', () => {
  let dir: string;
  const open: InMemoryUserRepository[] = [];

  /** A repository as the app builds it, started (snapshot read, journal replayed). */
  const start = (): { users: InMemoryUserRepository; snapshots: SnapshotService } => {
    const config = Object.assign(new AppConfig(), { DATA_DIR: dir, JOURNAL_COMMIT_MS: 10 });
    const snapshots = new SnapshotService(config, new SchedulerRegistry());
    const users = new InMemoryUserRepository(config, snapshots);
    users.onModuleInit();
    open.push(users);
    return { users, snapshots };
  };
  const journalOf = (users: InMemoryUserRepository) => users['files'].journal;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kc-users-'));
  });

  afterEach(async () => {
    for (const users of open.splice(0)) await users.onApplicationShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps credits made after the last snapshot through a crash (journal replayed over the snapshot)', async () => {
    const { users, snapshots } = start();
    await users.addUsage('alice', 10);
    snapshots.flushAll();
    await users.addUsage('alice', 5);
    await users.addContribution('bob', 7);
    await journalOf(users).settled();
    // A crash now: no snapshot, no shutdown. What a restart sees:
    const again = start().users;
    expect(await again.findAll()).toEqual([
      { username: 'alice', usage: 15, contributions: 0 },
      { username: 'bob', usage: 0, contributions: 7 },
    ]);
  });

  it('counts nothing twice when the crash came after the snapshot but before the journal was emptied', async () => {
    const { users, snapshots } = start();
    await users.addUsage('alice', 10);
    await journalOf(users).settled();
    const journal = readFileSync(join(dir, 'users.journal'), 'utf8');
    snapshots.flushAll();
    await journalOf(users).settled();
    writeFileSync(join(dir, 'users.journal'), journal); // as if the truncate never happened
    expect(await start().users.findByUsername('alice')).toEqual({ username: 'alice', usage: 10, contributions: 0 });
  });

  it('never writes anything but usernames and token counts', async () => {
    const { users } = start();
    await users.addUsage('alice', 3);
    await journalOf(users).settled();
    expect(readFileSync(join(dir, 'users.journal'), 'utf8')).toBe('{"u":"alice","usage":3,"s":1}\n');
  });

  it.each([
    ['an unknown version', { version: 2, users: [] }, 'version is 2; this server reads version 1'],
    ['negative usage', { version: 1, users: [{ username: 'a', usage: -5, contributions: 0 }] }, 'users[0].usage is not an integer between 0 and 1000000000000'],
    ['1e15 usage', { version: 1, users: [{ username: 'a', usage: 1e15, contributions: 0 }] }, 'users[0].usage is not an integer between 0 and 1000000000000'],
    ['fractional contributions', { version: 1, users: [{ username: 'a', usage: 0, contributions: 1.5 }] }, 'users[0].contributions is not an integer'],
    ['an empty username', { version: 1, users: [{ username: '', usage: 0, contributions: 0 }] }, 'users[0].username is not a non-empty string'],
    [
      'duplicate users',
      { version: 1, users: [{ username: 'a', usage: 1, contributions: 0 }, { username: 'b', usage: 1, contributions: 0 }, { username: 'a', usage: 2, contributions: 0 }] },
      'users[2].username "a" is a duplicate of users[0].username',
    ],
  ])('refuses users.json with %s, naming the file and the entry', (_what, content, message) => {
    writeFileSync(join(dir, 'users.json'), JSON.stringify(content));
    expect(() => start()).toThrow(`${join(dir, 'users.json')} is corrupt: ${message}`);
  });

  it('refuses a users.journal line with a negative credit, naming the line', () => {
    writeFileSync(join(dir, 'users.journal'), '{"u":"a","usage":3,"s":1}\n{"u":"a","usage":-3,"s":2}\n');
    expect(() => start()).toThrow(`${join(dir, 'users.journal')} is corrupt: line 2: usage is not an integer between 0 and 1000000000000`);
  });
  it('keeps an account through a crash (on disk before registerAccount resolves) and through a snapshot, storing the key hash only', async () => {
    const { users } = start();
    const key = 'a-secret-api-key-of-22c';
    expect(await users.registerAccount({ username: 'alice', apiKeyHash: hashApiKey(key), registeredAt: 1_764_000_000_000 })).toBe(true);
    // No settle, no snapshot: a crash right after the answer.
    const journal = readFileSync(join(dir, 'users.journal'), 'utf8');
    expect(journal).toBe(`{"a":"alice","k":"${hashApiKey(key)}","t":1764000000000,"s":1}\n`);
    expect(journal).not.toContain(key);
    const again = start();
    await expect(again.users.findAccountByApiKeyHash(hashApiKey(key))).resolves.toEqual({ username: 'alice', apiKeyHash: hashApiKey(key), registeredAt: 1_764_000_000_000 });
    await expect(again.users.registerAccount({ username: 'alice', apiKeyHash: hashApiKey('other'), registeredAt: 1 })).resolves.toBe(false);
    again.snapshots.flushAll();
    const snapshot = readFileSync(join(dir, 'users.json'), 'utf8');
    expect(snapshot).toContain(hashApiKey(key));
    expect(snapshot).not.toContain(key);
    await expect(start().users.findAccountByApiKeyHash(hashApiKey(key))).resolves.toMatchObject({ username: 'alice' });
  });

  it.each([
    ['a key that is not a hash', { version: 1, users: [], accounts: [{ username: 'a', apiKeyHash: 'plain-key', registeredAt: 1 }] }, 'accounts[0].apiKeyHash is not a SHA-256 hash'],
    [
      'a username registered twice',
      { version: 1, users: [], accounts: [{ username: 'a', apiKeyHash: hashApiKey('1'), registeredAt: 1 }, { username: 'a', apiKeyHash: hashApiKey('2'), registeredAt: 1 }] },
      'accounts[1].username "a" is a duplicate of accounts[0].username',
    ],
  ])('refuses users.json with %s in its accounts', (_what, content, message) => {
    writeFileSync(join(dir, 'users.json'), JSON.stringify(content));
    expect(() => start()).toThrow(`${join(dir, 'users.json')} is corrupt: ${message}`);
  });
});
