import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { InMemoryAuthFailureCounters } from '../../common/rate-limit/auth-failure-counters';
import { InMemoryStaleServersCursor } from './stale-servers-cursor';
import { InMemoryRegistrationBudgetStore } from './in-memory-registration-budget.store';
import { RedisConnection } from '../../common/redis/redis-connection';
import { loadAppConfig } from '../../config/app-config';
import { useTestRedis } from '../../../test/support/redis-server';
import { ServersService } from '../servers.service';
import { PasswordHasher } from '../domain/password-hasher';
import { AuthFailureLimiter } from '../../common/rate-limit/auth-failure-limiter';
import { RedisServerRepository, SEEN_GRANULARITY_MS } from './redis-server.repository';
import { jobMilliseconds, KoboldServer, PERFORMANCE_WINDOW, recordJob } from '../domain/kobold-server';
import { aServer } from './server.repository.contract';

const redis = useTestRedis();

describe('RedisServerRepository', () => {
  let connection: RedisConnection;
  beforeEach(async () => {
    connection = await redis.flush();
  });

  it('keeps every key under the {kc} hash tag, active servers in a sorted set by last seen rounded down to SEEN_GRANULARITY_MS, kept as seenAt', async () => {
    const servers = new RedisServerRepository(connection);
    const server = aServer('box', { lastSeenAt: 1_700_000_004_321 });
    await servers.create(server);
    await servers.addJob(server.id, { tokens: 3, seconds: 1.5 });
    expect(redis.server.cli('--scan').split('\n').sort()).toEqual(
      [`{kc}:server:${server.id}`, `{kc}:server:${server.id}:jobs`, '{kc}:servers:id-by-name', '{kc}:servers:seen'].sort(),
    );
    expect(SEEN_GRANULARITY_MS).toBe(10_000);
    expect(redis.server.cli('ZSCORE', '{kc}:servers:seen', server.id)).toBe('1700000000000');
    expect(redis.server.cli('HMGET', `{kc}:server:${server.id}`, 'lastSeenAt', 'seenAt')).toBe('1700000004321\n1700000000000');
    await servers.checkInByName('box', { owner: server.owner, model: server.model, maxLength: 80, maxContentLength: 1024, lastSeenAt: 1_700_000_012_345 }, server.passwordHash);
    expect(redis.server.cli('ZSCORE', '{kc}:servers:seen', server.id)).toBe('1700000010000');
    expect(redis.server.cli('HMGET', `{kc}:server:${server.id}`, 'lastSeenAt', 'seenAt')).toBe('1700000012345\n1700000010000');
  });

  it('reads a server stored before servers had settings as not in maintenance, with no info; stores maintenance as 1 or 0', async () => {
    const servers = new RedisServerRepository(connection);
    const server = aServer('box');
    await servers.create(server);
    await servers.updateSettings(server.id, { maintenance: true });
    expect(redis.server.cli('HGET', `{kc}:server:${server.id}`, 'maintenance')).toBe('1');
    redis.server.cli('HDEL', `{kc}:server:${server.id}`, 'maintenance', 'info');
    await expect(servers.findById(server.id)).resolves.toEqual({ ...server, maintenance: false, info: '' });
  });

  describe('the sums of the recent jobs (jobTokens, jobMs: what a pop works its deadline out from)', () => {
    const sumsOf = (id: string): number[] => redis.server.cli('HMGET', `{kc}:server:${id}`, 'jobTokens', 'jobMs').split('\n').map(Number);
    const listSums = (server: { recentJobs: { tokens: number; seconds: number }[] }): number[] => [
      server.recentJobs.reduce((sum, job) => sum + job.tokens, 0),
      server.recentJobs.reduce((sum, job) => sum + jobMilliseconds(job), 0),
    ];

    it('are written with the server and kept exact as jobs come and leave the window', async () => {
      const servers = new RedisServerRepository(connection);
      const server = aServer('box', { recentJobs: [{ tokens: 5, seconds: 0.0004 }, { tokens: 9, seconds: 2.2226 }] });
      await servers.create(server);
      expect(sumsOf(server.id)).toEqual([14, 1 + 2223]);
      let found = server;
      for (let i = 0; i < PERFORMANCE_WINDOW + 5; i++) found = (await servers.addJob(server.id, { tokens: 10 + i, seconds: 1 / (i + 3) })) as typeof server;
      expect(found.recentJobs).toHaveLength(PERFORMANCE_WINDOW);
      expect(sumsOf(server.id)).toEqual(listSums(found));
    });

    it('are kept with the totals, each written as its decimal, exact past 2^31 and whatever their digits', async () => {
      const servers = new RedisServerRepository(connection);
      // Whole numbers at the edges of their decimals (a digit carried, zeros inside, past the small-number tables) or large.
      const whole = (max: number) =>
        fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.constantFrom(999, 1_000, 1_007, 99_999, 100_000, 1_000_007, 1_024_999, 1_025_000, 2 ** 31 - 1, 2 ** 31), fc.integer({ min: 0, max }));
      const job = fc.record({ tokens: whole(2 ** 40), seconds: whole(2 ** 32).map((ms) => ms / 1000) });
      await fc.assert(
        fc.asyncProperty(
          fc.array(job, { maxLength: PERFORMANCE_WINDOW }),
          fc.array(job, { minLength: 1, maxLength: PERFORMANCE_WINDOW + 5 }),
          whole(2 ** 52),
          whole(2 ** 40),
          async (recentJobs, added, tokensGenerated, requestsFulfilled) => {
            const server = aServer(`box-${randomUUID()}`, { recentJobs, tokensGenerated, requestsFulfilled });
            await servers.create(server);
            const expected: KoboldServer = { ...server, recentJobs: recentJobs.map((j) => ({ ...j })) };
            let found: KoboldServer | undefined;
            for (const j of added) {
              found = await servers.addJob(server.id, j);
              recordJob(expected, j);
            }
            expect(found).toEqual(expected);
            const stored = await connection.run((client) => client.hmget(`{kc}:server:${server.id}`, 'tokensGenerated', 'requestsFulfilled', 'jobTokens', 'jobMs'));
            expect(stored).toEqual([expected.tokensGenerated, expected.requestsFulfilled, ...listSums(expected)].map(String));
          },
        ),
        { numRuns: 40 },
      );
    });

    it('take a server out of servers:unused with its first job, and leave one that has fulfilled requests out', async () => {
      const servers = new RedisServerRepository(connection);
      const [fresh, used] = [aServer('fresh'), aServer('used', { tokensGenerated: 50, requestsFulfilled: 5 })];
      for (const server of [fresh, used]) await servers.create(server);
      const unused = () => redis.server.cli('ZRANGE', '{kc}:servers:unused', '0', '-1');
      expect(unused()).toBe(fresh.id);
      await servers.addJob(fresh.id, { tokens: 3, seconds: 1 });
      expect(unused()).toBe('');
      await servers.addJob(fresh.id, { tokens: 4, seconds: 1 });
      await servers.addJob(used.id, { tokens: 5, seconds: 1 });
      expect(unused()).toBe('');
      await expect(servers.findById(fresh.id)).resolves.toMatchObject({ tokensGenerated: 7, requestsFulfilled: 2 });
      await expect(servers.findById(used.id)).resolves.toMatchObject({ tokensGenerated: 55, requestsFulfilled: 6 });
    });

    it('are worked out from the list for a server stored before they were kept, by its next job', async () => {
      const servers = new RedisServerRepository(connection);
      const server = aServer('old', { recentJobs: Array.from({ length: PERFORMANCE_WINDOW }, (_, i) => ({ tokens: i + 1, seconds: 0.25 * (i + 1) })) });
      await servers.create(server);
      redis.server.cli('HDEL', `{kc}:server:${server.id}`, 'jobTokens', 'jobMs');
      const found = (await servers.addJob(server.id, { tokens: 100, seconds: 7 })) as typeof server;
      expect(found).toMatchObject({ tokensGenerated: 100, requestsFulfilled: 1 });
      expect(redis.server.cli('ZCARD', '{kc}:servers:unused')).toBe('0');
      expect(found.recentJobs).toHaveLength(PERFORMANCE_WINDOW);
      expect(sumsOf(server.id)).toEqual(listSums(found));
      expect(sumsOf(server.id)[0]).toBe(100 + (2 + PERFORMANCE_WINDOW) * (PERFORMANCE_WINDOW - 1) / 2);
    });
  });

  it('deletes every key of a deleted server', async () => {
    const servers = new RedisServerRepository(connection);
    const server = aServer('box');
    await servers.create(server);
    await servers.addJob(server.id, { tokens: 3, seconds: 1.5 });
    await servers.deleteById(server.id);
    expect(redis.server.cli('--scan')).toBe('');
  });

  it('lets one of two instances registering a name at once win, across connections', async () => {
    const [a, b] = [new RedisServerRepository(connection), new RedisServerRepository(await redis.connect())];
    const [first, second] = [aServer('contested'), aServer('contested')];
    const [answerA, answerB] = await Promise.all([a.create(first), b.create(second)]);
    expect(answerA).toEqual(answerB);
    expect([first.id, second.id]).toContain(answerA.id);
  });

  it('stores the password hash, never the password, through the real check-in', async () => {
    const config = loadAppConfig({});
    const service = new ServersService(new RedisServerRepository(connection), new PasswordHasher(), new AuthFailureLimiter(config, new InMemoryAuthFailureCounters()), config, new InMemoryRegistrationBudgetStore(0), new InMemoryStaleServersCursor());
    const password = 'correct horse battery staple';
    const server = await service.checkIn({ name: 'box', username: 'db0', password, model: 'm', maxLength: 80, maxContentLength: 1024, clientAddress: () => '127.0.0.1' });
    await expect(service.checkIn({ name: 'box', username: 'db0', password: 'wrong', model: 'm', maxLength: 80, maxContentLength: 1024, clientAddress: () => '127.0.0.1' })).rejects.toThrow(
      /Wrong password/,
    );
    const dump = redis.server.cli('HGETALL', `{kc}:server:${server.id}`);
    expect(dump).toContain('passwordHash');
    expect(dump).toContain(server.passwordHash);
    for (const key of redis.server.cli('--scan').split('\n')) {
      const type = redis.server.cli('TYPE', key);
      const content = type === 'hash' ? redis.server.cli('HGETALL', key) : type === 'zset' ? redis.server.cli('ZRANGE', key, '0', '-1') : redis.server.cli('LRANGE', key, '0', '-1');
      expect(content).not.toContain(password);
    }
  });

  // The port method branch hardening-disk adds (ServerRepository.deleteUnusedSeenBefore): these move into
  // the contract once both are merged.
  describe('deleteUnusedSeenBefore', () => {
    const t = 1_700_000_000_000;
    const checkIn = (servers: RedisServerRepository, server: ReturnType<typeof aServer>, lastSeenAt: number) =>
      servers.checkInByName(server.name, { owner: server.owner, model: server.model, maxLength: 80, maxContentLength: 1024, lastSeenAt }, server.passwordHash);

    it('forgets the servers that never fulfilled a request and were last seen at or before the time, freeing their names', async () => {
      const servers = new RedisServerRepository(connection);
      const [idle, exact, used, recent] = [aServer('idle', { lastSeenAt: t - 10 }), aServer('exact', { lastSeenAt: t }), aServer('used', { lastSeenAt: t - 10 }), aServer('recent', { lastSeenAt: t + 1 })];
      for (const server of [idle, exact, used, recent]) await servers.create(server);
      await servers.addJob(used.id, { tokens: 1, seconds: 1 });
      await checkIn(servers, used, t - 5);

      expect((await servers.deleteUnusedSeenBefore(t)).sort()).toEqual(['exact', 'idle']);
      await expect(servers.findByName('idle')).resolves.toBeUndefined();
      await expect(servers.findById(exact.id)).resolves.toBeUndefined();
      expect((await servers.findSeenSince(0)).map((s) => s.name).sort()).toEqual(['recent', 'used']);
      await expect(servers.deleteUnusedSeenBefore(t)).resolves.toEqual([]);
      // The name is free again: the next registration wins it.
      const again = aServer('idle');
      await expect(servers.create(again)).resolves.toEqual(again);
      expect(redis.server.cli('EXISTS', `{kc}:server:${idle.id}`, `{kc}:server:${idle.id}:jobs`)).toBe('0');
    });

    it('keeps a server that checked in again, or was credited, before it was forgotten', async () => {
      const servers = new RedisServerRepository(connection);
      const [back, credited] = [aServer('back', { lastSeenAt: t - 10 }), aServer('credited', { lastSeenAt: t - 10 })];
      for (const server of [back, credited]) await servers.create(server);
      await checkIn(servers, back, t + 100);
      await servers.addJob(credited.id, { tokens: 2, seconds: 1 });
      await expect(servers.deleteUnusedSeenBefore(t)).resolves.toEqual([]);
      await expect(servers.deleteUnusedSeenBefore(t + 100)).resolves.toEqual(['back']);
      await expect(servers.findByName('credited')).resolves.toMatchObject({ requestsFulfilled: 1 });
    });
  });
});
