import { randomUUID } from 'node:crypto';
import { KoboldServer, PERFORMANCE_WINDOW } from '../domain/kobold-server';
import { SEEN_GRANULARITY_MS } from './redis-server.repository';
import { ServerRepository } from './server.repository';

/** A fresh, empty repository for one test, and how to dispose of it. */
export interface ServerRepositoryFixture {
  repository: ServerRepository;
  dispose?: () => Promise<void>;
}

export function aServer(name: string, overrides: Partial<KoboldServer> = {}): KoboldServer {
  return {
    id: randomUUID(),
    name,
    owner: `${name}-owner`,
    passwordHash: `scrypt$hash-of-${name}`,
    model: 'KoboldAI/fairseq-dense-13B-Nerys-v2',
    maxLength: 80,
    maxContentLength: 1024,
    tokensGenerated: 0,
    requestsFulfilled: 0,
    recentJobs: [],
    createdAt: 1_700_000_000_000,
    lastSeenAt: 1_700_000_000_000,
    maintenance: false,
    info: '',
    ...overrides,
  };
}

/**
 * The behaviour every ServerRepository adapter must have: run it from each adapter's spec with a
 * factory of empty repositories.
 */
export function describeServerRepositoryContract(adapter: string, create: () => Promise<ServerRepositoryFixture>): void {
  describe(`ServerRepository contract: ${adapter}`, () => {
    let fixture: ServerRepositoryFixture;
    let servers: ServerRepository;

    beforeEach(async () => {
      fixture = await create();
      servers = fixture.repository;
    });
    afterEach(async () => {
      await fixture.dispose?.();
    });

    it('finds nothing at first', async () => {
      await expect(servers.findById(randomUUID())).resolves.toBeUndefined();
      await expect(servers.findByName('box')).resolves.toBeUndefined();
      await expect(servers.findSeenSince(0)).resolves.toEqual([]);
    });

    it('creates a server, found by id and by name as it was given', async () => {
      const server = aServer('box', { maxLength: 512, maxContentLength: 2048, createdAt: 1_700_000_000_123, lastSeenAt: 1_700_000_000_456 });
      await expect(servers.create(server)).resolves.toEqual(server);
      await expect(servers.findById(server.id)).resolves.toEqual(server);
      await expect(servers.findByName('box')).resolves.toEqual(server);
    });

    it('lets the first registration of a name win: a later create answers the holder, unchanged', async () => {
      const first = aServer('box');
      await servers.create(first);
      const second = aServer('box', { owner: 'mallory', passwordHash: 'scrypt$other' });
      await expect(servers.create(second)).resolves.toEqual(first);
      await expect(servers.findById(second.id)).resolves.toBeUndefined();
      await expect(servers.findByName('box')).resolves.toEqual(first);
    });

    it('lets exactly one of many concurrent creates of a name win', async () => {
      const candidates = Array.from({ length: 20 }, (_, i) => aServer('contested', { owner: `owner-${i}` }));
      const answers = await Promise.all(candidates.map((c) => servers.create(c)));
      const winner = answers[0];
      expect(candidates.filter((c) => c.id === winner.id)).toHaveLength(1);
      for (const answer of answers) expect(answer).toEqual(winner);
      await expect(servers.findByName('contested')).resolves.toEqual(winner);
      await expect(servers.findSeenSince(0)).resolves.toHaveLength(1);
    });

    it('checks a server in by name with its proven password hash: owner, model, limits and last seen; stats and password hash stay', async () => {
      const server = aServer('box');
      await servers.create(server);
      await servers.addJob(server.id, { tokens: 10, seconds: 2 });
      const before = { ...server, tokensGenerated: 10, requestsFulfilled: 1, recentJobs: [{ tokens: 10, seconds: 2 }] };
      const update = { owner: 'new-owner', model: 'other/model', maxLength: 40, maxContentLength: 512, lastSeenAt: server.lastSeenAt + 5_000 };
      await expect(servers.checkInByName('box', update, server.passwordHash)).resolves.toEqual({ before, checkedIn: true });
      await expect(servers.findByName('box')).resolves.toEqual({ ...before, ...update });
      await expect(servers.findSeenSince(server.lastSeenAt + 4_999)).resolves.toEqual([{ ...before, ...update }]);
      await expect(servers.checkInByName('nobody', update, server.passwordHash)).resolves.toBeUndefined();
    });

    it('changes nothing on a check-in without the proven hash, or with another one, and answers the server as it is', async () => {
      const server = aServer('box');
      await servers.create(server);
      const update = { owner: 'mallory', model: 'other/model', maxLength: 40, maxContentLength: 512, lastSeenAt: server.lastSeenAt + 5_000 };
      await expect(servers.checkInByName('box', update, undefined)).resolves.toEqual({ before: server, checkedIn: false });
      await expect(servers.checkInByName('box', update, 'scrypt$hash-of-another')).resolves.toEqual({ before: server, checkedIn: false });
      await expect(servers.checkInByName('box', update, '')).resolves.toEqual({ before: server, checkedIn: false });
      await expect(servers.findById(server.id)).resolves.toEqual(server);
      await expect(servers.findSeenSince(server.lastSeenAt)).resolves.toEqual([]);
    });

    it('does not check in a re-registered name with the hash of the server that held it before', async () => {
      const old = aServer('box');
      await servers.create(old);
      await servers.deleteById(old.id);
      const again = aServer('box', { passwordHash: 'scrypt$hash-of-the-new-box' });
      await servers.create(again);
      const update = { owner: old.owner, model: old.model, maxLength: 80, maxContentLength: 1024, lastSeenAt: old.lastSeenAt + 1 };
      await expect(servers.checkInByName('box', update, old.passwordHash)).resolves.toEqual({ before: again, checkedIn: false });
      await expect(servers.checkInByName('box', update, again.passwordHash)).resolves.toEqual({ before: again, checkedIn: true });
    });

    it('adds jobs to the stats and keeps the last PERFORMANCE_WINDOW of them, in order', async () => {
      const server = aServer('box');
      await servers.create(server);
      const jobs = Array.from({ length: PERFORMANCE_WINDOW + 5 }, (_, i) => ({ tokens: i + 1, seconds: (i + 1) / 3 }));
      for (const job of jobs) await servers.addJob(server.id, job);
      const found = await servers.findById(server.id);
      expect(found?.tokensGenerated).toBe(jobs.reduce((sum, j) => sum + j.tokens, 0));
      expect(found?.requestsFulfilled).toBe(jobs.length);
      expect(found?.recentJobs).toEqual(jobs.slice(-PERFORMANCE_WINDOW));
      await expect(servers.addJob(randomUUID(), { tokens: 1, seconds: 1 })).resolves.toBeUndefined();
    });

    it('adds jobs to totals past 2^31 exactly, up to 2^53', async () => {
      const big = aServer('big', { tokensGenerated: 123_456_789_012_345, requestsFulfilled: 2 ** 32 + 7 });
      const huge = aServer('huge', { tokensGenerated: Number.MAX_SAFE_INTEGER - 1_000, requestsFulfilled: 2 ** 31 - 1 });
      for (const server of [big, huge]) await servers.create(server);
      await servers.addJob(big.id, { tokens: 80, seconds: 1 });
      await servers.addJob(huge.id, { tokens: 999, seconds: 1 });
      await expect(servers.findById(big.id)).resolves.toMatchObject({ tokensGenerated: 123_456_789_012_425, requestsFulfilled: 2 ** 32 + 8 });
      await expect(servers.findById(huge.id)).resolves.toMatchObject({ tokensGenerated: Number.MAX_SAFE_INTEGER - 1, requestsFulfilled: 2 ** 31 });
    });

    it('counts a job shorter than a millisecond as a millisecond', async () => {
      const server = aServer('box');
      await servers.create(server);
      const after = await servers.addJob(server.id, { tokens: 5, seconds: 0 });
      expect(after?.recentJobs).toEqual([{ tokens: 5, seconds: 0.001 }]);
    });

    it('adds concurrent jobs exactly', async () => {
      const server = aServer('box');
      await servers.create(server);
      await Promise.all(Array.from({ length: 200 }, (_, i) => servers.addJob(server.id, { tokens: (i % 9) + 1, seconds: 1 })));
      const found = await servers.findById(server.id);
      expect(found?.tokensGenerated).toBe(Array.from({ length: 200 }, (_, i) => (i % 9) + 1).reduce((a, b) => a + b, 0));
      expect(found?.requestsFulfilled).toBe(200);
      expect(found?.recentJobs).toHaveLength(PERFORMANCE_WINDOW);
    });

    it('finds the servers seen strictly after a time, following check-ins', async () => {
      const t = 1_700_000_000_000;
      const old = aServer('old', { lastSeenAt: t - 10_000 });
      const recent = aServer('recent', { lastSeenAt: t + 1 });
      const exact = aServer('exact', { lastSeenAt: t });
      for (const s of [old, recent, exact]) await servers.create(s);
      const names = async (): Promise<string[]> => (await servers.findSeenSince(t)).map((s) => s.name).sort();
      expect(await names()).toEqual(['recent']);
      await servers.checkInByName('old', { owner: old.owner, model: old.model, maxLength: 80, maxContentLength: 1024, lastSeenAt: t + 50 }, old.passwordHash);
      expect(await names()).toEqual(['old', 'recent']);
      expect((await servers.findSeenSince(t)).find((s) => s.name === 'old')).toEqual({ ...old, lastSeenAt: t + 50 });
    });

    it('finds a server seen after a time, and only then, to the millisecond, however close its check-ins (Redis indexes last-seen times by SEEN_GRANULARITY_MS)', async () => {
      const G = SEEN_GRANULARITY_MS;
      // A multiple of G: the created server and its first check-in share the index's score in Redis.
      const t = 1_700_000_000_000;
      const server = aServer('box', { lastSeenAt: t + 1 });
      await servers.create(server);
      const seenAfter = async (since: number): Promise<number[]> => (await servers.findSeenSince(since)).map((s) => s.lastSeenAt);
      for (const at of [t + 1, t + G - 1, t + G, t + G + 1, t + 3 * G - 1, t + 3 * G + 2]) {
        if (at !== server.lastSeenAt) await servers.checkInByName('box', { owner: server.owner, model: server.model, maxLength: 80, maxContentLength: 1024, lastSeenAt: at }, server.passwordHash);
        for (const since of [at - G - 1, at - G, at - G + 1, at - 2, at - 1]) expect({ at, since, found: await seenAfter(since) }).toEqual({ at, since, found: [at] });
        for (const since of [at, at + 1, at + G - 1, at + G]) expect({ at, since, found: await seenAfter(since) }).toEqual({ at, since, found: [] });
      }
    });

    it('changes settings (maintenance, info) one field or both; the rest, check-ins and jobs leave them', async () => {
      const server = aServer('box');
      await servers.create(server);
      await expect(servers.updateSettings(server.id, { maintenance: true, info: 'Back at 9 — 🦙 "quoted"' })).resolves.toEqual({ ...server, maintenance: true, info: 'Back at 9 — 🦙 "quoted"' });
      await expect(servers.updateSettings(server.id, { maintenance: false })).resolves.toEqual({ ...server, maintenance: false, info: 'Back at 9 — 🦙 "quoted"' });
      await servers.updateSettings(server.id, { info: '' });
      await servers.updateSettings(server.id, { maintenance: true });
      const update = { owner: server.owner, model: 'other/model', maxLength: 40, maxContentLength: 512, lastSeenAt: server.lastSeenAt + 5_000 };
      await servers.checkInByName('box', update, server.passwordHash);
      await servers.addJob(server.id, { tokens: 3, seconds: 1 });
      const expected = { ...server, ...update, maintenance: true, info: '', tokensGenerated: 3, requestsFulfilled: 1, recentJobs: [{ tokens: 3, seconds: 1 }] };
      await expect(servers.findById(server.id)).resolves.toEqual(expected);
      await expect(servers.findSeenSince(0)).resolves.toEqual([expected]);
      await expect(servers.updateSettings(server.id, {})).resolves.toEqual(expected);
      await expect(servers.updateSettings(randomUUID(), { maintenance: true })).resolves.toBeUndefined();
    });

    it('deletes one server by id: answers it as it was, frees its name, lists it no more, and leaves the others', async () => {
      const server = aServer('box', { requestsFulfilled: 0 });
      const other = aServer('other');
      await servers.create(server);
      await servers.create(other);
      await servers.addJob(server.id, { tokens: 4, seconds: 2 });
      await servers.updateSettings(server.id, { maintenance: true, info: 'bye' });
      const before = await servers.findById(server.id);
      await expect(servers.deleteById(server.id)).resolves.toEqual(before);
      await expect(servers.findById(server.id)).resolves.toBeUndefined();
      await expect(servers.findByName('box')).resolves.toBeUndefined();
      await expect(servers.findSeenSince(0)).resolves.toEqual([other]);
      await expect(servers.deleteById(server.id)).resolves.toBeUndefined();
      await expect(servers.addJob(server.id, { tokens: 1, seconds: 1 })).resolves.toBeUndefined();
      await expect(servers.updateSettings(server.id, { maintenance: false })).resolves.toBeUndefined();
      const again = aServer('box', { owner: 'someone-else' });
      await expect(servers.create(again)).resolves.toEqual(again);
      await expect(servers.findByName('box')).resolves.toEqual(again);
      await expect(servers.deleteUnusedSeenBefore(Number.MAX_SAFE_INTEGER)).resolves.toEqual(expect.arrayContaining(['box', 'other']));
    });

    it('changes the list version with markListChanged, and only then', async () => {
      const first = await servers.listVersion();
      await servers.create(aServer('box'));
      await expect(servers.listVersion()).resolves.toBe(first);
      await servers.markListChanged();
      const second = await servers.listVersion();
      expect(second).not.toBe(first);
      await Promise.all([servers.markListChanged(), servers.markListChanged()]);
      const third = await servers.listVersion();
      expect([first, second]).not.toContain(third);
    });

    it('keeps odd names apart and intact', async () => {
      const names = ['__proto__', 'constructor', 'a:b', '{kc}:servers', 'Ünïcödé 🦙', ' spaced '];
      const created = names.map((name) => aServer(name));
      for (const server of created) await servers.create(server);
      for (const server of created) await expect(servers.findByName(server.name)).resolves.toEqual(server);
    });

    it('answers copies: changing an answer changes nothing stored', async () => {
      const server = aServer('box');
      const answer = await servers.create(server);
      answer.model = 'changed';
      answer.recentJobs.push({ tokens: 1, seconds: 1 });
      const found = await servers.findById(server.id);
      if (found) found.recentJobs.push({ tokens: 2, seconds: 2 });
      (await servers.findSeenSince(0))[0].tokensGenerated = 99;
      await expect(servers.findById(server.id)).resolves.toEqual(server);
    });
  });
}
