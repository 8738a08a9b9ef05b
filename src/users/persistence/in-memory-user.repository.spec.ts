import { SchedulerRegistry } from '@nestjs/schedule';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotService } from '../../common/persistence/snapshot.service';
import { AppConfig } from '../../config/app-config';
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
});
