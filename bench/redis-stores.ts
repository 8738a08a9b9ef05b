/**
 * What the Redis stores cost Redis (not part of `npm test` or CI): starts a private redis-server, runs
 * each store operation the request path makes N times (50 in flight from one connection), and reports
 * operations per second as seen by this client and the Redis process's CPU time per operation (INFO cpu,
 * user + system: commands, scripts and socket I/O).
 *
 *   npx ts-node --transpile-only bench/redis-stores.ts      (REDIS_BENCH_OPS=<n> to change N, 20000)
 */
import { randomUUID } from 'node:crypto';
import { RedisThrottlerStorage } from '../src/common/rate-limit/redis-throttler.storage';
import { KoboldServer } from '../src/servers/domain/kobold-server';
import { RedisServerRepository } from '../src/servers/persistence/redis-server.repository';
import { RedisUserRepository } from '../src/users/persistence/redis-user.repository';
import { connectToRedis, TestRedisServer } from '../test/support/redis-server';
import { inFlight, redisCpuMicros } from './store-workload';

const OPS = Number(process.env.REDIS_BENCH_OPS ?? 20_000);
const IN_FLIGHT = 50;
const SERVERS = 100;

async function measure(redis: TestRedisServer, name: string, operation: (i: number) => Promise<unknown>): Promise<string> {
  const cpuBefore = redisCpuMicros(redis);
  const started = process.hrtime.bigint();
  await inFlight(IN_FLIGHT, OPS, operation);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = redisCpuMicros(redis) - cpuBefore;
  return `| ${name} | ${Math.round(OPS / seconds).toLocaleString('en-US')} | ${(cpu / OPS).toFixed(1)} µs |`;
}

async function main(): Promise<void> {
  const redis = await TestRedisServer.start();
  const connection = await connectToRedis(redis.socketUrl);
  try {
    const users = new RedisUserRepository(connection);
    const servers = new RedisServerRepository(connection);
    const throttler = new RedisThrottlerStorage(connection);
    const now = Date.now();
    const known: KoboldServer[] = [];
    for (let i = 0; i < SERVERS; i++) {
      known.push(
        await servers.create({
          id: randomUUID(), name: `server-${i}`, owner: `owner-${i % 10}`, passwordHash: 'scrypt$bench', model: 'KoboldAI/fairseq-dense-13B-Nerys-v2',
          maxLength: 80, maxContentLength: 1024, tokensGenerated: 0, requestsFulfilled: 0, recentJobs: [], createdAt: now, lastSeenAt: now, maintenance: false, info: '',
        }),
      );
    }
    const server = (i: number): KoboldServer => known[i % SERVERS];
    const rows = [
      await measure(redis, "pop's check-in (checkInByName with the proven hash)", async (i) => {
        const known = server(i);
        await servers.checkInByName(known.name, { owner: known.owner, model: known.model, maxLength: 80, maxContentLength: 1024, lastSeenAt: now + i }, known.passwordHash);
      }),
      await measure(redis, "submit's credits (addUsage + addContribution + addJob)", async (i) => {
        await users.addUsage(`user-${i % 1000}`, 20);
        await users.addContribution(server(i).owner, 20);
        await servers.addJob(server(i).id, { tokens: 20, seconds: 1.5 });
      }),
      await measure(redis, 'rate-limit hit (one throttler)', (i) => throttler.increment(`ip:10.0.${i % 250}.${i % 200}`, 60_000, 90, 60_000, 'overall')),
      await measure(redis, `active servers (findSeenSince, ${SERVERS} active)`, () => servers.findSeenSince(now - 1)),
      await measure(redis, 'user profile (findByUsername)', (i) => users.findByUsername(`user-${i % 1000}`)),
    ];
    console.log(`Redis ${redis.cli('INFO', 'server').match(/redis_version:(\S+)/)?.[1]} on a unix socket, ${OPS.toLocaleString('en-US')} operations each, ${IN_FLIGHT} in flight from one connection`);
    console.log('| operation | operations/s (one client) | Redis process CPU per operation |');
    console.log('| --- | --- | --- |');
    for (const row of rows) console.log(row);
  } finally {
    await connection.onApplicationShutdown();
    await redis.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
