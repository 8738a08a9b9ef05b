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
import { PERFORMANCE_WINDOW } from '../src/servers/domain/kobold-server';
import { TestRedisServer } from '../test/support/redis-server';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const CHUNK = Number(process.env.BENCH_CHUNK ?? 500);
const WAITING = Number(process.env.BENCH_WAITING ?? 10_000);
const IN_FLIGHT = 10;
const SERVERS = 40;
const HASH = 'scrypt$bench';
const OFFER = { model: 'm', maxLength: 512, maxContentLength: 2048 };
const DEADLINE = { GENERATION_TIMEOUT_MIN_SECONDS: 120, GENERATION_TIMEOUT_SAFETY_FACTOR: 3, PROMPT_EXPIRY_SECONDS: 600 };

/** What the bench uses of a build's compiled stores (dist/), loosely typed: the two builds' types differ. */
interface Build {
  name: string;
  redis: TestRedisServer;
  connection: { whenReady(ms: number): Promise<boolean>; onApplicationShutdown(): Promise<void> };
  store: {
    enqueue(request: unknown, cap: number): Promise<unknown>;
    popFor(pop: unknown): Promise<{ started?: { generationId: string }; server: { id: string } } | undefined>;
    submit(submission: unknown): Promise<{ outcome: string }>;
  };
  servers: { create(server: unknown): Promise<unknown> };
  next: number;
  pop: number;
  submit: number;
  ops: number;
}

function load(dist: string, file: string): Record<string, new (...args: unknown[]) => unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(resolve(dist, file)) as Record<string, new (...args: unknown[]) => unknown>;
}

/** The redis-server's CPU time (user + system), µs. */
function redisCpu(redis: TestRedisServer): number {
  const info = redis.cli('INFO', 'cpu');
  const read = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (read('used_cpu_user') + read('used_cpu_sys')) * 1e6;
}

async function inFlight(count: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < count) await work(next++);
  }));
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
  for (let i = 0; i < SERVERS; i++) {
    const recentJobs = Array.from({ length: PERFORMANCE_WINDOW }, (_, j) => ({ tokens: 70 + j, seconds: 2.1 + j / 7 }));
    await build.servers.create({
      id: `server-${i}`, name: `box-${i}`, owner: 'owner', passwordHash: HASH, ...OFFER, tokensGenerated: recentJobs.reduce((sum, job) => sum + job.tokens, 0),
      requestsFulfilled: PERFORMANCE_WINDOW, recentJobs, createdAt: 0, lastSeenAt: now, maintenance: false, info: '',
    });
  }
  const request = (i: number, servable: boolean) => ({
    id: `req-${i}`, prompt: 'x'.repeat(1024), params: { max_length: 80 }, username: 'user', requesterKey: 'user',
    wishes: { models: servable ? [] : ['nobody-runs-this'], maxLength: 80, maxContentLength: 1024 }, n: 1, priority: -i, now,
  });
  // The lines exist before anything waits (a cluster's steady state), then the unservable requests, then the jobs.
  await pop(build, now);
  await inFlight(WAITING, async (i) => void (await build.store.enqueue(request(i, false), 1e9)));
  await inFlight(jobs, async (i) => void (await build.store.enqueue(request(WAITING + i, true), 1e9)));
  return build;
}

async function pop(build: Build, now: number): Promise<{ generationId: string; serverId: string } | undefined> {
  const i = build.next++;
  const generationId = `gen-${i}`;
  const popped = await build.store.popFor({
    name: `box-${i % SERVERS}`, provenPasswordHash: HASH, update: { owner: 'owner', ...OFFER, lastSeenAt: now + 1 }, models: [OFFER.model], priorityUsernames: [], generationId, deadline: DEADLINE,
  });
  return popped?.started ? { generationId, serverId: popped.server.id } : undefined;
}

/** One chunk of pops, then their submits, on one build: adds its Redis CPU to the build's sums; answers pop + submit µs per cycle. */
async function chunk(build: Build, now: number): Promise<number> {
  const started: { generationId: string; serverId: string }[] = [];
  const before = redisCpu(build.redis);
  await inFlight(CHUNK, async () => {
    const job = await pop(build, now);
    if (!job) throw new Error(`${build.name}: a pop found no job`);
    started.push(job);
  });
  const popped = redisCpu(build.redis);
  await inFlight(started.length, async (i) => {
    const outcome = await build.store.submit({ ...started[i], text: 'y'.repeat(400), now: now + 2_000, tokens: 80, provenServerIds: [started[i].serverId] });
    if (outcome.outcome !== 'accepted') throw new Error(`${build.name}: a submit was ${outcome.outcome}`);
  });
  const submitted = redisCpu(build.redis);
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
      if (warm) await build.store.submit({ ...warm, text: 'y', now: now + 2_000, tokens: 1, provenServerIds: [warm.serverId] });
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
