import { HttpException, Logger } from '@nestjs/common';
import { startAppContext, TestContext } from '../../test/support/app-context';
import { T0 } from '../../test/support/servers';
import { useTestRedis } from '../../test/support/redis-server';
import { ServerRepository } from './persistence/server.repository';
import { CheckIn, ServersService } from './servers.service';

const HOUR = 3_600_000;
const STALE_SECONDS = 300;

/**
 * The servers' part of the scheduled sweep, and the registration budget, with N instances on one store
 * (issue 13): every instance sweeps, yet each server going stale is logged once, each unused server is
 * forgotten once, and an address has one registration budget, not one per instance.
 */
describe('ServersService with several instances on one Redis', () => {
  const redis = useTestRedis();
  const contexts: TestContext[] = [];
  let logged: string[];

  const instance = async (): Promise<ServersService> => {
    const context = await startAppContext({ REDIS_URL: redis.server.socketUrl, REGISTRATIONS_PER_HOUR_PER_ADDRESS: 3, STALE_SERVER_SECONDS: STALE_SECONDS });
    contexts.push(context);
    return context.context.get(ServersService);
  };
  const checkIn = (servers: ServersService, name: string, now: number, address = '10.0.0.9', overrides: Partial<CheckIn> = {}) =>
    servers.checkIn({ name, username: 'owner', password: 'pw', model: 'm', maxLength: 80, maxContentLength: 1024, clientAddress: () => address, ...overrides }, now);

  beforeEach(async () => {
    await redis.flush();
    logged = [];
    jest.spyOn(Logger.prototype, 'log').mockImplementation((message: unknown) => void logged.push(String(message)));
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await Promise.all(contexts.splice(0).map((c) => c.close()));
  });

  it('logs each server that goes stale once, whichever instances sweep, in any order', async () => {
    const [a, b, c] = [await instance(), await instance(), await instance()];
    const ids = [];
    for (const [i, name] of ['s1', 's2', 's3'].entries()) ids.push((await checkIn([a, b, c][i], name, T0 + i * 1000, `10.0.0.${i}`)).id);
    // First sweeps only look.
    await Promise.all([a, b, c].map((s) => s.sweepStale(T0 + 5_000)));
    // s1 and s2 go stale between these sweeps, s3 later; the instances sweep at slightly different times.
    await Promise.all([a.sweepStale(T0 + STALE_SECONDS * 1000 + 1_500), b.sweepStale(T0 + STALE_SECONDS * 1000 + 1_200), c.sweepStale(T0 + STALE_SECONDS * 1000 + 1_000)]);
    await Promise.all([c.sweepStale(T0 + STALE_SECONDS * 1000 + 11_000), a.sweepStale(T0 + STALE_SECONDS * 1000 + 11_000), b.sweepStale(T0 + STALE_SECONDS * 1000 + 11_000)]);
    const stale = logged.filter((line) => line.includes('went stale'));
    expect(stale.sort()).toEqual(ids.map((id) => `Server ${id} went stale (no pop for ${STALE_SECONDS}s)`).sort());
  });

  it('forgets each unused server once when every instance sweeps at the same moment', async () => {
    const [a, b] = [await instance(), await instance()];
    for (const [i, name] of ['u1', 'u2', 'u3', 'u4'].entries()) await checkIn(a, name, T0, `10.0.1.${i}`);
    const counts = await Promise.all([a.forgetUnused(T0 + 25 * HOUR), b.forgetUnused(T0 + 25 * HOUR)]);
    expect(counts[0] + counts[1]).toBe(4);
    expect(logged.filter((line) => line.startsWith('Forgot '))).toHaveLength(counts.filter((n) => n > 0).length);
    expect(await contexts[0].context.get(ServerRepository).findSeenSince(0)).toEqual([]);
  });

  it('gives an address one registration budget across instances', async () => {
    const [a, b] = [await instance(), await instance()];
    await checkIn(a, 'r1', T0);
    await checkIn(b, 'r2', T0);
    await checkIn(a, 'r3', T0);
    const refused = await checkIn(b, 'r4', T0).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HttpException);
    expect((refused as HttpException).getStatus()).toBe(429);
    // Another address is not affected.
    await expect(checkIn(b, 'r4', T0, '10.0.0.200')).resolves.toMatchObject({ name: 'r4' });
  });
});

describe('ServersService in memory: stale servers', () => {
  let context: TestContext;
  let logged: string[];

  beforeEach(async () => {
    context = await startAppContext({ REDIS_URL: '', STALE_SERVER_SECONDS: STALE_SECONDS });
    logged = [];
    jest.spyOn(Logger.prototype, 'log').mockImplementation((message: unknown) => void logged.push(String(message)));
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await context.close();
  });

  it('logs a server that went stale at the first sweep after, once; and again if it comes back and goes stale again', async () => {
    const servers = context.context.get(ServersService);
    const body = { username: 'owner', password: 'pw', model: 'm', maxLength: 80, maxContentLength: 1024, clientAddress: () => '10.0.0.1' };
    const { id } = await servers.checkIn({ name: 'x', ...body }, T0);
    await servers.sweepStale(T0 + 1_000);
    await servers.sweepStale(T0 + STALE_SECONDS * 1000 - 1);
    expect(logged.filter((l) => l.includes('went stale'))).toEqual([]);
    await servers.sweepStale(T0 + STALE_SECONDS * 1000 + 10);
    await servers.sweepStale(T0 + STALE_SECONDS * 1000 + 20);
    expect(logged.filter((l) => l.includes('went stale'))).toEqual([`Server ${id} went stale (no pop for ${STALE_SECONDS}s)`]);
    const back = T0 + 2 * STALE_SECONDS * 1000;
    await servers.checkIn({ name: 'x', ...body }, back);
    await servers.sweepStale(back + 1_000);
    await servers.sweepStale(back + STALE_SECONDS * 1000 + 10);
    expect(logged.filter((l) => l.includes('went stale'))).toHaveLength(2);
  });
});
