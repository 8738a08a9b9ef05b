import { SchedulerRegistry } from '@nestjs/schedule';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotService } from '../../common/persistence/snapshot.service';
import { AppConfig } from '../../config/app-config';
import { KoboldServer } from '../domain/kobold-server';
import { PasswordHasher } from '../domain/password-hasher';
import { InMemoryServerRepository } from './in-memory-server.repository';
import { aServer, T0 } from '../../../test/support/servers';

describe('InMemoryServerRepository on disk (servers.json + servers.journal)', () => {
  let dir: string;
  let hash: string;
  const open: InMemoryServerRepository[] = [];

  const start = (): { servers: InMemoryServerRepository; snapshots: SnapshotService } => {
    const config = Object.assign(new AppConfig(), { DATA_DIR: dir, JOURNAL_COMMIT_MS: 10 });
    const snapshots = new SnapshotService(config, new SchedulerRegistry());
    const servers = new InMemoryServerRepository(config, snapshots);
    servers.onModuleInit();
    open.push(servers);
    return { servers, snapshots };
  };
  const server = (name: string, overrides: Partial<KoboldServer> = {}): KoboldServer => aServer(name, { passwordHash: hash, ...overrides });

  beforeAll(async () => {
    hash = await new PasswordHasher().hash('pw');
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kc-servers-'));
  });

  afterEach(async () => {
    for (const servers of open.splice(0)) await servers.onApplicationShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has a new server on disk (journal, fdatasynced) when create resolves, with its hash and never a password', async () => {
    const { servers } = start();
    const alpha = server('alpha');
    await servers.create(alpha);
    // No snapshot, no shutdown: a crash now.
    expect(readFileSync(join(dir, 'servers.journal'), 'utf8')).toContain(alpha.passwordHash);
    expect(await start().servers.findByName('alpha')).toEqual(alpha);
  });

  it('tells nobody about a new server before it is on disk, and does not create it when it cannot be stored', async () => {
    const { servers } = start();
    let fail!: (error: Error) => void;
    jest.spyOn(servers['files'].journal, 'appendDurable').mockImplementationOnce(() => new Promise((_resolve, reject) => (fail = reject)));
    const first = servers.create(server('alpha'));
    const lookup = servers.findByName('alpha');
    const second = servers.create(server('alpha', { owner: 'second' }));
    let answered = false;
    void lookup.then(() => (answered = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(false);
    fail(new Error('ENOSPC: no space left on device'));
    await expect(first).rejects.toThrow('ENOSPC');
    expect(await lookup).toBeUndefined();
    // The second pop with the name creates it (and is on disk when it resolves).
    expect(await second).toMatchObject({ name: 'alpha', owner: 'second' });
    expect(await start().servers.findByName('alpha')).toMatchObject({ owner: 'second' });
  });

  it('replays jobs and changed details over the snapshot, and forgets what was forgotten', async () => {
    const { servers, snapshots } = start();
    const alpha = server('alpha');
    const beta = server('beta');
    await servers.create(alpha);
    await servers.create(beta);
    snapshots.flushAll();
    await servers.addJob(alpha.id, { tokens: 30, seconds: 2 });
    await servers.addJob(alpha.id, { tokens: 1, seconds: 0 });
    await servers.checkInByName('alpha', { owner: 'new-owner', model: 'm2', maxLength: 40, maxContentLength: 512, lastSeenAt: T0 + 1000 }, alpha.passwordHash);
    expect(await servers.deleteUnusedSeenBefore(T0)).toEqual(['beta']);
    await servers['files'].journal.settled();

    const again = start().servers;
    expect(await again.findByName('alpha')).toMatchObject({ owner: 'new-owner', model: 'm2', maxLength: 40, tokensGenerated: 31, requestsFulfilled: 2, recentJobs: [{ tokens: 30, seconds: 2 }, { tokens: 1, seconds: 0.001 }] });
    expect(await again.findByName('beta')).toBeUndefined();
  });

  it('replays settings and deletions over the snapshot (a crash before the next snapshot), and keeps them in the next snapshot', async () => {
    const { servers, snapshots } = start();
    const alpha = server('alpha');
    const beta = server('beta');
    await servers.create(alpha);
    await servers.create(beta);
    await servers.addJob(beta.id, { tokens: 5, seconds: 1 });
    snapshots.flushAll();
    await servers.updateSettings(alpha.id, { maintenance: true, info: 'GPU swap' });
    await servers.updateSettings(alpha.id, { info: 'GPU swap, back at 9' });
    expect(await servers.deleteById(beta.id)).toMatchObject({ name: 'beta', requestsFulfilled: 1 });
    await servers['files'].journal.settled();
    expect(readFileSync(join(dir, 'servers.journal'), 'utf8')).toContain('"op":"settings"');

    const crashed = start();
    expect(await crashed.servers.findByName('alpha')).toEqual({ ...alpha, maintenance: true, info: 'GPU swap, back at 9' });
    expect(await crashed.servers.findByName('beta')).toBeUndefined();
    crashed.snapshots.flushAll();
    expect(await start().servers.findByName('alpha')).toEqual({ ...alpha, maintenance: true, info: 'GPU swap, back at 9' });
  });

  it('reads servers.json and journal entries written before servers had settings as not in maintenance, with no info', async () => {
    const { maintenance: _m, info: _i, ...old } = server('old');
    const { maintenance: _m2, info: _i2, ...journaled } = server('journaled');
    writeFileSync(join(dir, 'servers.json'), JSON.stringify({ version: 1, journalSeq: 0, servers: [old] }));
    writeFileSync(join(dir, 'servers.journal'), `${JSON.stringify({ op: 'create', server: journaled, s: 1 })}\n`);
    const { servers } = start();
    expect(await servers.findByName('old')).toEqual({ ...old, maintenance: false, info: '' });
    expect(await servers.findByName('journaled')).toEqual({ ...journaled, maintenance: false, info: '' });
  });

  it('forgets only servers that never fulfilled a request and were last seen at or before the cutoff', async () => {
    const { servers } = start();
    await servers.create(server('unused-old', { lastSeenAt: T0 }));
    await servers.create(server('unused-recent', { lastSeenAt: T0 + 10 }));
    await servers.create(server('used-old', { lastSeenAt: T0, requestsFulfilled: 1, tokensGenerated: 5 }));
    expect(await servers.deleteUnusedSeenBefore(T0 + 5)).toEqual(['unused-old']);
    expect(await servers.findByName('unused-old')).toBeUndefined();
    expect(await servers.findByName('used-old')).toBeDefined();
    // The name is free again.
    await servers.create(server('unused-old'));
    expect(await servers.findByName('unused-old')).toBeDefined();
  });

  it('lists the servers seen since a time from its index, also when asked about an older time later', async () => {
    const { servers } = start();
    const ids: string[] = [];
    const hashes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const s = server(`s${i}`, { lastSeenAt: T0 + i * 1000 });
      ids.push(s.id);
      hashes.push(s.passwordHash);
      await servers.create(s);
    }
    await servers.checkInByName('s0', { owner: 'o', model: 'm', maxLength: 80, maxContentLength: 1024, lastSeenAt: T0 + 10_000 }, hashes[0]);
    const names = async (since: number) => (await servers.findSeenSince(since)).map((s) => s.name).sort();
    expect(await names(T0 + 2500)).toEqual(['s0', 's3', 's4']);
    expect(servers['bySeen'].size).toBe(3);
    expect(await names(T0 + 500)).toEqual(['s0', 's1', 's2', 's3', 's4']);
    expect(await names(T0 + 3500)).toEqual(['s0', 's4']);
  });

  it('refuses servers.json with a bad scrypt parameter, naming the file and the entry', () => {
    const list = [server('a'), server('b'), server('c'), server('d', { passwordHash: hash.replace('$16384$', '$16385$') })];
    writeFileSync(join(dir, 'servers.json'), JSON.stringify({ version: 1, servers: list }));
    expect(() => start()).toThrow(`${join(dir, 'servers.json')} is corrupt: servers[3].passwordHash is not a valid scrypt hash`);
  });

  it.each([
    ['a duplicate name', (s: KoboldServer[]) => [...s, { ...s[0], id: randomUUID() }], 'servers[2].name "a" is a duplicate of servers[0].name'],
    ['a negative tokensGenerated', (s: KoboldServer[]) => [s[0], { ...s[1], tokensGenerated: -1 }], 'servers[1].tokensGenerated is not an integer'],
    ['an id that is not a uuid', (s: KoboldServer[]) => [{ ...s[0], id: '../x' }], 'servers[0].id is not a uuid'],
    ['an info over 1000 characters', (s: KoboldServer[]) => [{ ...s[0], info: 'x'.repeat(1001) }], 'servers[0].info is not a string of at most 1000 characters'],
    ['a maintenance that is not a boolean', (s: KoboldServer[]) => [{ ...s[0], maintenance: 'yes' as unknown as boolean }], 'servers[0].maintenance is not true or false'],
    ['a job of zero seconds', (s: KoboldServer[]) => [{ ...s[0], recentJobs: [{ tokens: 5, seconds: 0 }] }], 'servers[0].recentJobs[0].seconds is not a number above 0'],
  ])('refuses servers.json with %s', (_what, edit, message) => {
    writeFileSync(join(dir, 'servers.json'), JSON.stringify({ version: 1, servers: edit([server('a'), server('b')]) }));
    expect(() => start()).toThrow(`${join(dir, 'servers.json')} is corrupt: ${message}`);
  });

  it('refuses a servers.journal entry of an unknown kind, naming the line', () => {
    writeFileSync(join(dir, 'servers.journal'), `{"op":"job","id":"${randomUUID()}","tokens":5,"seconds":1,"s":1}\n{"op":"drop","s":2}\n`);
    expect(() => start()).toThrow(`${join(dir, 'servers.journal')} is corrupt: line 2: op "drop" is not one of create, checkin, job, settings, forget`);
  });
});
