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
import { RedisConnection } from '../src/common/redis/redis-connection';
import { KoboldServer } from '../src/servers/domain/kobold-server';
import { RedisServerRepository } from '../src/servers/persistence/redis-server.repository';
import { RedisUserRepository } from '../src/users/persistence/redis-user.repository';
import { connectToRedis, TestRedisServer } from '../test/support/redis-server';

const OPS = Number(process.env.REDIS_BENCH_OPS ?? 20_000);
const IN_FLIGHT = 50;
const SERVERS = 100;

/** Redis's process CPU time so far (INFO cpu: user + system), in µs: commands, scripts and socket I/O alike. */
async function redisCpuMicros(connection: RedisConnection): Promise<number> {
  const info = await connection.run((client) => client.info('cpu'));
  const read = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (read('used_cpu_user') + read('used_cpu_sys')) * 1e6;
}

async function measure(connection: RedisConnection, name: string, operation: (i: number) => Promise<unknown>): Promise<string> {
  const cpuBefore = await redisCpuMicros(connection);
  const started = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < OPS) await operation(next++);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = (await redisCpuMicros(connection)) - cpuBefore;
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
      await measure(connection, "pop's check-in (checkInByName with the proven hash)", async (i) => {
        const known = server(i);
        await servers.checkInByName(known.name, { owner: known.owner, model: known.model, maxLength: 80, maxContentLength: 1024, lastSeenAt: now + i }, known.passwordHash);
      }),
      await measure(connection, "submit's credits (addUsage + addContribution + addJob)", async (i) => {
        await users.addUsage(`user-${i % 1000}`, 20);
        await users.addContribution(server(i).owner, 20);
        await servers.addJob(server(i).id, { tokens: 20, seconds: 1.5 });
      }),
      await measure(connection, 'rate-limit hit (one throttler)', (i) => throttler.increment(`ip:10.0.${i % 250}.${i % 200}`, 60_000, 90, 60_000, 'overall')),
      await measure(connection, `active servers (findSeenSince, ${SERVERS} active)`, () => servers.findSeenSince(now - 1)),
      await measure(connection, 'user profile (findByUsername)', (i) => users.findByUsername(`user-${i % 1000}`)),
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
