/**
 * What the Redis generation store costs Redis (issue 13; not part of `npm test` or CI): starts a private
 * redis-server, fills the store with 0, then 10,000, then 100,000 waiting requests of diverse wishes
 * (Horde-shaped: 1–20 of 50 models or any, max_length 16–512, a context from 1024 to 16384, n mostly 1),
 * and measures, at each size, the Redis time per pop (that starts a slot), submit (of that slot, with its
 * credits), status read (findStanding over the active offers), enqueue and empty pop. Redis time is read
 * from `INFO commandstats` (usec per call of EVALSHA: the script's own time, without socket I/O) and, for
 * comparison, from the Redis process's CPU time (INFO cpu: user + system, I/O included) per operation.
 * Operations run 50 in flight from one connection; each figure is the least of REDIS_GEN_BENCH_ROUNDS (3) rounds. Two shapes of the cluster: one offer line (every server
 * alike) and 40 offer lines (40 servers of distinct offers, as in the Horde-shaped bench).
 *
 *   npx ts-node --transpile-only bench/redis-generation.ts     (REDIS_GEN_BENCH_OPS=<n> per measure, 5000;
 *                                                              REDIS_GEN_BENCH_SIZES=0,10000,100000;
 *                                                              REDIS_GEN_BENCH_LINES=1,40: the shapes;
 *                                                              REDIS_GEN_BENCH_N=25: every request's n, as the
 *                                                              HTTP bench's Horde-shaped requests, instead of
 *                                                              mostly 1)
 * Target (issue 13): pop + submit ≤ 100 µs of Redis time, so one Redis core serves ≥ 10,000 cycles/s.
 */
import { RedisConnection, SharedStoreUnavailableException } from '../src/common/redis/redis-connection';
import { ServerOffer } from '../src/generation/domain/prompt-queue';
import { NewRequest, StartedGeneration } from '../src/generation/persistence/generation.store';
import { RedisGenerationStore } from '../src/generation/persistence/redis-generation.store';
import { RedisServerRepository } from '../src/servers/persistence/redis-server.repository';
import { connectToRedis, TestRedisServer } from '../test/support/redis-server';
import { hordeOffers, hordeWishes, MODELS, pick, random } from './horde-shape';
import { inFlight } from './store-workload';

const OPS = Number(process.env.REDIS_GEN_BENCH_OPS ?? 5_000);
const SIZES = (process.env.REDIS_GEN_BENCH_SIZES ?? '0,10000,100000').split(',').map(Number);
const ROUNDS = Number(process.env.REDIS_GEN_BENCH_ROUNDS ?? 3);
const LINES = (process.env.REDIS_GEN_BENCH_LINES ?? '1,40').split(',').map(Number);
/** Every request's n (unset: 1, 2 or 4, mostly 1). */
const N = process.env.REDIS_GEN_BENCH_N === undefined ? undefined : Number(process.env.REDIS_GEN_BENCH_N);
const IN_FLIGHT = 50;
const DEADLINE = { minMs: 120_000, msPerToken: 30, maxMs: 600_000 };

const rand = random(42);

let nextRequest = 0;
function diverseRequest(now: number): NewRequest {
  const id = `req-${nextRequest++}`;
  const wishes = hordeWishes(rand);
  const username = `user-${Math.floor(rand() * 5000)}`;
  return {
    id,
    prompt: 'x'.repeat(1024),
    params: { max_length: 80, temperature: 0.7, rep_pen: 1.1 },
    username,
    requesterKey: username,
    wishes,
    n: N ?? pick(rand, [1, 1, 1, 1, 2, 4]),
    priority: Math.round((rand() - 0.5) * 2000) - now / 1000,
    now,
  };
}

interface Stats {
  /** The store's functions (FCALL) and scripts (EVALSHA) run, and their time inside Redis. */
  scriptCalls: number;
  scriptUsec: number;
  cpuUsec: number;
}

async function stats(connection: RedisConnection): Promise<Stats> {
  const info = await connection.run((client) => client.info('all'));
  const of = (command: string): number[] => (new RegExp(`^cmdstat_${command}:calls=(\\d+),usec=(\\d+)`, 'm').exec(info) ?? [0, 0, 0]).slice(1).map(Number);
  const [fcall, evalsha] = [of('fcall'), of('evalsha')];
  const read = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  // The main thread's CPU (Redis 7): commands, scripts and socket I/O, not the background threads.
  return { scriptCalls: fcall[0] + evalsha[0], scriptUsec: fcall[1] + evalsha[1], cpuUsec: (read('used_cpu_user_main_thread') + read('used_cpu_sys_main_thread')) * 1e6 };
}

interface Measured {
  usecPerCall: number;
  cpuPerOp: number;
  opsPerSecond: number;
}

async function measure(connection: RedisConnection, count: number, operation: (i: number) => Promise<unknown>): Promise<Measured> {
  const before = await stats(connection);
  const started = process.hrtime.bigint();
  await inFlight(IN_FLIGHT, count, operation);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const after = await stats(connection);
  const calls = after.scriptCalls - before.scriptCalls;
  return { usecPerCall: (after.scriptUsec - before.scriptUsec) / calls, cpuPerOp: (after.cpuUsec - before.cpuUsec) / count, opsPerSecond: count / seconds };
}

/** Fills to `size` waiting requests (enqueue scripts, 50 in flight). */
async function fillTo(store: RedisGenerationStore, held: { count: number }, size: number, now: number): Promise<void> {
  const missing = size - held.count;
  if (missing <= 0) return;
  await inFlight(IN_FLIGHT, missing, () => store.enqueue(diverseRequest(now), 1_000_000));
  held.count = size;
}

async function runShape(lines: number, rows: string[]): Promise<void> {
  const redis = await TestRedisServer.start();
  const connection = await connectToRedis(redis.socketUrl);
  try {
    const store = new RedisGenerationStore(connection);
    const servers = new RedisServerRepository(connection);
    const offers = hordeOffers(lines);
    const serverCount = 40;
    for (let i = 0; i < serverCount; i++) {
      await servers.create({
        id: `server-${i}`, name: `server-${i}`, owner: `owner-${i % 10}`, passwordHash: 'scrypt$bench', model: offers[i % offers.length].model,
        maxLength: offers[i % offers.length].maxLength, maxContentLength: offers[i % offers.length].maxContentLength, tokensGenerated: 0,
        requestsFulfilled: 0, recentJobs: [], createdAt: 0, lastSeenAt: 0, maintenance: false, info: '',
      });
    }
    const now = Date.now();
    // Every offer pops once on the empty queue: its line exists before the fill (the steady state of a cluster).
    for (const offer of offers) await store.takeNextSlot({ offer, priorityUsernames: new Set(), serverId: 'server-0', generationId: `warm-${offer.model}-${offer.maxLength}-${offer.maxContentLength}`, deadline: DEADLINE, now });
    const held = { count: 0 };
    let generation = 0;
    const take = (i: number, offer: ServerOffer) =>
      store.takeNextSlot({ offer, priorityUsernames: new Set([`owner-${i % 10}`]), serverId: `server-${i % serverCount}`, generationId: `gen-${generation++}`, deadline: DEADLINE, now: now + 1 });
    for (const size of SIZES) {
      await fillTo(store, held, size, now);
      const label = `${lines} line${lines === 1 ? '' : 's'}, ${size.toLocaleString('en-US')} waiting`;
      const nobody: ServerOffer = { model: 'org/model-nobody-runs', maxLength: 16, maxContentLength: 512 };
      await take(0, nobody);
      // Each figure is the least of ROUNDS rounds: the machine is shared, and interference only adds.
      const best: Record<string, Measured & { count: number }> = {};
      const keep = (name: string, m: Measured, count: number): void => {
        const known = best[name];
        if (!known || m.usecPerCall < known.usecPerCall) best[name] = { ...m, cpuPerOp: Math.min(m.cpuPerOp, known?.cpuPerOp ?? Infinity), count };
        else known.cpuPerOp = Math.min(known.cpuPerOp, m.cpuPerOp);
      };
      for (let round = 0; round < ROUNDS; round++) {
        const startedOnes: (StartedGeneration & { serverId: string })[] = [];
        const pop = await measure(connection, OPS, async (i) => {
          const taken = await take(i, offers[i % offers.length]);
          if ('requestId' in taken) startedOnes.push({ ...taken, serverId: `server-${i % serverCount}` });
        });
        keep('pop', pop, startedOnes.length);
        if (startedOnes.length > 0) {
          const submit = await measure(connection, startedOnes.length, (i) =>
            store.submit({ generationId: startedOnes[i].generationId, text: 'y'.repeat(400), now: now + 2_000, tokens: 80, provenServerIds: [startedOnes[i].serverId] }),
          );
          keep('submit', submit, startedOnes.length);
          // Keep the queue at its size: as many new requests as the pops took slots.
          keep('enqueue', await measure(connection, startedOnes.length, () => store.enqueue(diverseRequest(now), 1_000_000)), startedOnes.length);
        }
        // Status reads of up to 100 waiting requests spread over the queue (none at 0 waiting: of a done one).
        const statusIds: string[] = [];
        for (let i = 0; i < 400 && statusIds.length < 100; i++) {
          const id = `req-${Math.floor(rand() * nextRequest)}`;
          if (((await store.findRequest(id))?.waiting ?? 0) > 0) statusIds.push(id);
        }
        if (statusIds.length === 0) statusIds.push(startedOnes[0]?.requestId ?? 'none');
        keep('status', await measure(connection, OPS, (i) => store.findStanding(statusIds[i % statusIds.length], offers)), OPS);
        keep('empty', await measure(connection, OPS, (i) => take(i, nobody)), OPS);
      }
      const row = (name: string, m: Measured & { count: number }): string =>
        `| ${label} | ${name} | ${m.count.toLocaleString('en-US')} | ${m.usecPerCall.toFixed(1)} µs | ${m.cpuPerOp.toFixed(1)} µs | ${Math.round(m.opsPerSecond).toLocaleString('en-US')} |`;
      rows.push(row(`pop (${best.pop.count} of ${OPS} found work)`, best.pop));
      // The pops that found work, apart: the mixed figure less the empty-pop cost of those that found none.
      const found = best.pop.count;
      const startedPop = found === 0 ? undefined : (best.pop.usecPerCall * OPS - best.empty.usecPerCall * (OPS - found)) / found;
      const startedCpu = found === 0 ? undefined : (best.pop.cpuPerOp * OPS - best.empty.cpuPerOp * (OPS - found)) / found;
      if (startedPop !== undefined && startedCpu !== undefined) rows.push(`| ${label} | pop that starts a slot (derived) | ${found.toLocaleString('en-US')} | ${startedPop.toFixed(1)} µs | ${startedCpu.toFixed(1)} µs | |`);
      if (best.submit) rows.push(row('submit (with credits)', best.submit), row('enqueue', best.enqueue));
      rows.push(row(`status (findStanding, ${offers.length} offers)`, best.status), row('pop that finds nothing', best.empty));
      if (best.submit && startedPop !== undefined && startedCpu !== undefined) {
        const cycle = startedPop + best.submit.usecPerCall;
        rows.push(`| ${label} | **pop that starts a slot + its submit** | | **${cycle.toFixed(1)} µs** | ${(startedCpu + best.submit.cpuPerOp).toFixed(1)} µs | ≈ ${Math.round(1e6 / cycle).toLocaleString('en-US')} cycles/s per Redis core (script time) |`);
      }
      console.error(`done: ${label}`);
    }
    // One line made for a new offer from the whole queue: O(N) once per offer (not in the pop bound).
    const before = await stats(connection);
    try {
      await store.takeNextSlot({ offer: { model: MODELS[7], maxLength: 300, maxContentLength: 3000 }, priorityUsernames: new Set(), serverId: 'server-0', generationId: 'line-build', deadline: DEADLINE, now: now + 3 });
    } catch (error) {
      // Past the 1 s command timeout the client gives up (503), but the script runs to its end.
      if (!(error instanceof SharedStoreUnavailableException)) throw error;
    }
    let after: Stats | undefined;
    while (!after || after.scriptCalls === before.scriptCalls) after = await stats(connection).catch(() => undefined);
    rows.push(`| ${lines} line(s), ${held.count.toLocaleString('en-US')} waiting | making the line of a new offer (once per offer, O(N)) | 1 | ${((after.scriptUsec - before.scriptUsec) / 1000).toFixed(1)} ms | | |`);
    const memory = await connection.run((client) => client.info('memory'));
    rows.push(`| ${lines} line(s), ${held.count.toLocaleString('en-US')} waiting | Redis used_memory | | ${/used_memory_human:(\S+)/.exec(memory)?.[1]} | | |`);
  } finally {
    await connection.onApplicationShutdown();
    await redis.stop();
  }
}

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const lines of LINES) await runShape(lines, rows);
  const version = /redis_version:(\S+)/.exec(await (async () => {
    const redis = await TestRedisServer.start();
    try {
      return redis.cli('INFO', 'server');
    } finally {
      await redis.stop();
    }
  })())?.[1];
  console.log(`Redis ${version} on a unix socket; ${IN_FLIGHT} in flight from one connection; ${new Date().toISOString()}`);
  console.log('| queue | operation | operations | Redis script time per call (commandstats, FCALL) | Redis main-thread CPU per operation (INFO cpu, I/O included) | operations/s (one client) |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
}

// The test redis-server child is unref'd: awaiting its exit between two shapes must not let Node quit.
const keepAlive = setInterval(() => undefined, 60_000);
main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => clearInterval(keepAlive));
