import Redis from 'ioredis';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RedisReadinessCheck } from '../src/common/redis/redis-readiness.check';
import { countTokens } from '../src/generation/domain/token-counter';
import { waitFor } from './support/processes';
import { TestRedisServer } from './support/redis-server';
import { popBody, removeDataDir, startTestApp, TestApp } from './support/test-app';

/**
 * REDIS_URL set (Redis mode): users, servers and rate limits are kept in Redis, so two
 * instances on one Redis share them; a Redis outage answers 503 and service resumes by itself.
 * (Requests across instances: test/multi-instance.e2e-spec.ts.)
 */
describe('Redis mode (e2e)', () => {
  let redis: TestRedisServer;
  const apps: TestApp[] = [];

  const start = async (overrides: Record<string, string | number> = {}): Promise<TestApp> => {
    const app = await startTestApp({ REDIS_URL: redis.socketUrl, ...overrides });
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    redis = await TestRedisServer.start();
  });
  beforeEach(() => {
    redis.cli('FLUSHALL');
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) {
      await app.close();
      removeDataDir(app.dataDir);
    }
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('keeps servers and the ledger in Redis: what one instance records, another serves; nothing goes to DATA_DIR', async () => {
    const [a, b] = [await start(), await start()];
    const { body: created } = await a.http.post('/generate/prompt').send({ prompt: 'Once upon a time', params: { max_length: 16 }, username: 'alice' }).expect(200);
    const { body: job } = await a.http.post('/generate/pop').send(popBody('box')).expect(200);
    expect(job.id).toEqual(expect.any(String));
    const text = ' there was a cluster.';
    await a.http.post('/generate/submit').send({ id: job.id, password: 'box-password', generation: text }).expect(200, { reward: countTokens(text) });
    await a.http.get(`/generate/prompt/${created.id}`).expect(200);

    const tokens = countTokens(text);
    await b.http.get('/usage').expect(200, { alice: tokens });
    await b.http.get('/contributions').expect(200, { 'box-owner': tokens });
    await b.http.get('/users/alice').expect(200, { username: 'alice', usage: tokens, contributions: 0, balance: -tokens, waiting_requests: 0 });
    const { body: servers } = await b.http.get('/servers').expect(200);
    expect(servers).toEqual([expect.objectContaining({ name: 'box', tokens_generated: tokens, requests_fulfilled: 1, online: true })]);
    await b.http.get('/models').expect(200, { [popBody('box').model as string]: 1 });
    // The name is held: another instance checks the password stored (as a hash) in Redis.
    await b.http.post('/generate/pop').send(popBody('box', { password: 'not the password' })).expect(401);
    await b.http.post('/generate/pop').send(popBody('box')).expect(200);

    expect(redis.cli('HGET', '{kc}:users:usage', 'alice')).toBe(String(tokens));
    for (const app of apps.splice(0)) {
      await app.close();
      expect(existsSync(join(app.dataDir, 'users.json')) || existsSync(join(app.dataDir, 'servers.json'))).toBe(false);
      removeDataDir(app.dataDir);
    }
    // Each instance closed its connection at shutdown.
    expect(redis.cli('CLIENT', 'LIST')).not.toContain('name=koboldai-cluster');
  });

  it('pops a server whose password this instance verified before in one FCALL: check-in and take together', async () => {
    const app = await start({ SWEEP_INTERVAL_SECONDS: 3600 });
    await app.http.post('/generate/prompt').send({ prompt: 'Once upon a time', params: { max_length: 16 }, username: 'alice' }).expect(200);
    // The first pop verifies (here: registers) the name, then pops.
    await app.http.post('/generate/pop').send(popBody('box')).expect(200);
    await app.http.post('/generate/prompt').send({ prompt: 'Once upon a time', params: { max_length: 16 }, username: 'alice' }).expect(200);
    const watcher = new Redis(redis.socketUrl);
    const monitor = await watcher.monitor();
    const commands: string[] = [];
    let marked: () => void = () => undefined;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args[0].toLowerCase() === 'ping' && args[1] === 'mark') marked();
      else if (!source.startsWith('lua')) commands.push(args[0].toLowerCase());
    });
    /** The commands the app sent to Redis while `run` ran (not those inside scripts). */
    const commandsOf = async (run: () => Promise<unknown>): Promise<string[]> => {
      commands.length = 0;
      await run();
      const mark = new Promise<void>((resolve) => (marked = resolve));
      redis.cli('PING', 'mark');
      await mark;
      return [...commands];
    };
    try {
      let job: { id: string | null } = { id: null };
      await expect(commandsOf(async () => (job = (await app.http.post('/generate/pop').send(popBody('box')).expect(200)).body))).resolves.toEqual(['fcall']);
      expect(job.id).toEqual(expect.any(String));
      // Nothing to do: one too, with the skipped counts.
      const empty = await commandsOf(async () => expect((await app.http.post('/generate/pop').send(popBody('box')).expect(200)).body).toMatchObject({ id: null }));
      expect(empty).toEqual(['fcall']);
      // A wrong password is never taken for the verified one: checked against the stored hash (401).
      await app.http.post('/generate/pop').send(popBody('box', { password: 'not the password' })).expect(401);
    } finally {
      monitor.disconnect();
      watcher.disconnect();
    }
  });

  it('shares rate limits between instances', async () => {
    const [a, b] = [await start({ RATE_LIMITS: 'on', RATE_LIMIT_PER_MINUTE: 6 }), await start({ RATE_LIMITS: 'on', RATE_LIMIT_PER_MINUTE: 6 })];
    for (let i = 0; i < 3; i++) {
      await a.http.get('/usage').expect(200);
      await b.http.get('/usage').expect(200);
    }
    const refused = await b.http.get('/models').expect(429);
    expect(refused.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
    await a.http.get('/usage').expect(429);
  });

  it('answers 503 with a clear message while Redis is hung or down, never a 500 or a hang, and resumes by itself', async () => {
    const app = await start();
    await app.http.post('/generate/pop').send(popBody('box')).expect(200);
    const unreachable = { statusCode: 503, error: 'Service Unavailable', message: 'The shared store (Redis) is unreachable: try again in a moment' };

    const readiness = app.app.get(RedisReadinessCheck);
    await expect(readiness.problem()).resolves.toBeNull();

    redis.pause();
    try {
      await expect(readiness.problem()).resolves.toMatch(/is unreachable: no answer to PING within 500 ms/);
      const begun = Date.now();
      await app.http.get('/users/box-owner').expect(503, unreachable);
      expect(Date.now() - begun).toBeLessThan(3_000);
      await app.http.post('/generate/pop').send(popBody('box')).expect(503, unreachable);
    } finally {
      redis.resume();
    }
    await app.http.get('/servers').expect(200);

    await redis.kill();
    const begun = Date.now();
    // (GET /servers may answer from its list cache for up to SERVERS_LIST_CACHE_MS: /usage reads the store.)
    await app.http.get('/usage').expect(503, unreachable);
    await app.http.post('/generate/pop').send(popBody('box')).expect(503, unreachable);
    await app.http.post('/generate/prompt').send({ prompt: 'hello', username: 'alice' }).expect(503, unreachable);
    expect(Date.now() - begun).toBeLessThan(1_000);
    await expect(readiness.problem()).resolves.toMatch(/^the shared store \(Redis\) at unix socket .* is unreachable/);
    // Readiness fails while Redis is unreachable; liveness does not.
    const ready = await app.http.get('/health/ready').expect(503);
    expect((ready.body as { message: string }).message).toMatch(/redis: the shared store \(Redis\) .* is unreachable/);
    await app.http.get('/health').expect(200);

    await redis.restart();
    await waitFor('service to resume', async () => (await app.http.get('/usage').then((r) => r.status)) === 200, 5_000, 50);
    await expect(readiness.problem()).resolves.toBeNull();
    await app.http.get('/health/ready').expect(200);
    // Without persistence the restarted Redis is empty: the bridge's next pop registers the server again.
    await app.http.post('/generate/pop').send(popBody('box')).expect(200);
    await app.http.get('/users/alice').expect(404);
  });
});
