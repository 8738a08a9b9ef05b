/**
 * Redis CPU per pop + submit of this build against another build, measured in alternation (issue 13; not
 * part of `npm test` or CI). On this shared host the same `BENCH_ONLY=store` run moves by ±20% from one
 * run to the next, and a host that slows down over a few minutes favours whichever build ran first, so
 * two builds are compared here chunk by chunk: each build has a private redis-server of its own, filled
 * alike (40 servers with full job windows, BENCH_WAITING (10,000) waiting requests none of them can serve,
 * and the jobs), and the builds take turns at BENCH_CHUNK (500) pops and then their submits, the order
 * of the two swapped every round. Store level, no HTTP: the same function calls as the HTTP bench's
 * cycle (popFor, then submit), 10 in flight. Redis CPU is the redis-server's user + system time
 * (INFO cpu) around each chunk, so it includes the socket I/O as the HTTP bench's figure does.
 *
 *   npm run build   (this build's dist/), and the other build in its own worktree (npx nest build)
 *   npx ts-node --transpile-only bench/redis-alternate.ts <the other build's dist folder>
 *                   (BENCH_ROUNDS=<n>, 20; BENCH_CHUNK=<n>, 500; BENCH_WAITING=<n>, 10,000)
 *
 * Prints each build's Redis CPU per pop, per submit and per pop + submit over all rounds, and the median
 * of the per-round ratios (this build ÷ the other).
 */
import { resolve } from 'node:path';
import { TestRedisServer } from '../test/support/redis-server';
import { fillWorkload, inFlight, popJob, redisCpuMicros, StartedJob, submitJob, WorkloadStores } from './store-workload';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const CHUNK = Number(process.env.BENCH_CHUNK ?? 500);
const WAITING = Number(process.env.BENCH_WAITING ?? 10_000);
const IN_FLIGHT = 10;

/** A build's compiled stores (dist/) on a redis-server of its own, with its sums. */
interface Build extends WorkloadStores {
  name: string;
  redis: TestRedisServer;
  connection: { whenReady(ms: number): Promise<boolean>; onApplicationShutdown(): Promise<void> };
  next: number;
  pop: number;
  submit: number;
  ops: number;
}

function load(dist: string, file: string): Record<string, new (...args: unknown[]) => unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(resolve(dist, file)) as Record<string, new (...args: unknown[]) => unknown>;
}

async function prepare(name: string, dist: string, now: number, jobs: number): Promise<Build> {
  const redis = await TestRedisServer.start();
  const { RedisConnection } = load(dist, 'common/redis/redis-connection.js');
  const { RedisGenerationStore } = load(dist, 'generation/persistence/redis-generation.store.js');
  const { RedisServerRepository } = load(dist, 'servers/persistence/redis-server.repository.js');
  const connection = new RedisConnection(redis.socketUrl) as Build['connection'];
  if (!(await connection.whenReady(5_000))) throw new Error(`${name}: no Redis connection`);
  const build: Build = {
    name, redis, connection, store: new RedisGenerationStore(connection) as Build['store'], servers: new RedisServerRepository(connection) as Build['servers'],
    next: 0, pop: 0, submit: 0, ops: 0,
  };
  await fillWorkload(build, now, WAITING, jobs);
  return build;
}

function pop(build: Build, now: number): Promise<StartedJob | undefined> {
  const i = build.next++;
  return popJob(build, `gen-${i}`, i, now);
}

/** One chunk of pops, then their submits, on one build: adds its Redis CPU to the build's sums; answers pop + submit µs per cycle. */
async function chunk(build: Build, now: number): Promise<number> {
  const started: StartedJob[] = [];
  const before = redisCpuMicros(build.redis);
  await inFlight(IN_FLIGHT, CHUNK, async () => {
    const job = await pop(build, now);
    if (!job) throw new Error(`${build.name}: a pop found no job`);
    started.push(job);
  });
  const popped = redisCpuMicros(build.redis);
  await inFlight(IN_FLIGHT, started.length, async (i) => submitJob(build, started[i], now, build.name));
  const submitted = redisCpuMicros(build.redis);
  build.pop += popped - before;
  build.submit += submitted - popped;
  build.ops += CHUNK;
  return (submitted - before) / CHUNK;
}

async function main(): Promise<void> {
  const other = process.argv[2];
  if (!other) throw new Error('Usage: bench/redis-alternate.ts <the other build\'s dist folder>');
  const now = Date.now();
  const jobs = ROUNDS * CHUNK + 1;
  const builds = [await prepare('this build', resolve(__dirname, '../dist'), now, jobs), await prepare(`other (${other})`, other, now, jobs)];
  try {
    for (const build of builds) {
      const warm = await pop(build, now);
      if (warm) await submitJob(build, warm, now, build.name);
    }
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? builds : [...builds].reverse();
      const cycle = new Map<Build, number>();
      for (const build of order) cycle.set(build, await chunk(build, now));
      ratios.push((cycle.get(builds[0]) as number) / (cycle.get(builds[1]) as number));
      console.error(`round ${round + 1}/${ROUNDS}: ${builds.map((b) => `${b.name} ${(cycle.get(b) as number).toFixed(1)} µs`).join(', ')}`);
    }
    ratios.sort((a, b) => a - b);
    console.log(`Redis CPU per operation (INFO cpu), ${ROUNDS} rounds of ${CHUNK} pops and their submits each, alternating; ${WAITING.toLocaleString('en-US')} other waiting requests`);
    console.log('| build | per pop | per submit | pop + submit |');
    console.log('| --- | --- | --- | --- |');
    for (const b of builds) console.log(`| ${b.name} | ${(b.pop / b.ops).toFixed(1)} µs | ${(b.submit / b.ops).toFixed(1)} µs | ${((b.pop + b.submit) / b.ops).toFixed(1)} µs |`);
    console.log(`\nMedian of the per-round ratios (this build ÷ the other), pop + submit: ${ratios[Math.floor(ratios.length / 2)].toFixed(3)} (range ${ratios[0].toFixed(3)}–${ratios[ratios.length - 1].toFixed(3)})`);
  } finally {
    for (const build of builds) {
      await build.connection.onApplicationShutdown();
      await build.redis.stop();
    }
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
