/**
 * What one Redis core feeds (issue 13: "Redis time per pop + submit cycle ≤ 100 µs: one Redis core feeds
 * ≥ 10,000 cycles/s"), measured at capacity. On this machine, Redis's CPU per call depends on how busy it
 * is: a call that finds it waiting pays for waking it up and for the caches the other processes took
 * meanwhile (about twice the CPU of a call in a busy stream). The HTTP bench keeps Redis busy about a
 * tenth of the time, and one client process calling the store (its TypeScript, ioredis) cannot keep it
 * busy either: the store's client side costs more than Redis's side. So the calls are recorded, then
 * replayed: a redis-server A, filled with bench/store-workload.ts's workload (40 busy servers, 10,000
 * requests none of them can serve, 1 KB prompts, 400-character texts), gets `chunk` pops, their submits
 * and the status reads of their requests through the real store (64 in flight, every FCALL recorded);
 * a redis-server B, filled by the same calls, gets the recorded FCALLs as they were sent, many in flight
 * on one connection, so that B runs them back to back, as a core that feeds many instances does, and
 * answers the same (checked). Redis CPU is the redis-server's user + system time (INFO cpu: commands,
 * scripts and socket I/O); the redis-server measured runs alone on the last CPU (taskset), the client on
 * the others. Also reported: A's figures through the store, 64 in flight and one at a time.
 *
 *   npx ts-node --transpile-only bench/redis-capacity.ts   (BENCH_CHUNK=<n>, 20,000)
 *
 * npm run bench -- --store redis runs it too (its store section).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisConnection } from '../src/common/redis/redis-connection';
import { RedisGenerationStore } from '../src/generation/persistence/redis-generation.store';
import { GENERATION_KEY_PREFIX } from '../src/generation/persistence/redis/generation-scripts';
import { USER_TALLY_KEYS } from '../src/users/persistence/redis-user.repository';
import { RedisServerRepository } from '../src/servers/persistence/redis-server.repository';
import { TestRedisServer } from '../test/support/redis-server';
import { fillWorkload, inFlight, OFFER, pinRedisAlone, popJob, redisCpuMicros, StartedJob, submitJob, WorkloadStores } from './store-workload';

/** Calls in flight through the store; redis-cli --pipe processes of the replay at once. */
const THROUGH_STORE = 64;
const PIPES = 4;
const WAITING = 10_000;
const STEPS = ['pop', 'submit', 'status'] as const;
type Step = (typeof STEPS)[number];

/** Redis CPU per call of each kind (µs), how busy Redis was (CPU over wall time, 0..1), and pop + submit cycles per second. */
export interface RedisLoadCost {
  pop: number;
  submit: number;
  status: number;
  busy: number;
  cyclesPerSecond: number;
}

export interface RedisCapacityFigures {
  /** The recorded calls replayed back to back (B). */
  replayed: RedisLoadCost;
  /** Through the store, 64 in flight and one at a time (A). */
  throughStore: RedisLoadCost;
  oneAtATime: RedisLoadCost;
  /** The CPU the measured redis-server had to itself, if pinned. */
  redisCpu?: string;
  cycles: number;
}

/** Runs `count` calls `parallel` at a time: Redis CPU per call and the wall time, µs. */
async function timed(redis: TestRedisServer, parallel: number, count: number, call: (i: number) => Promise<void>): Promise<{ cpu: number; wall: number }> {
  const cpu0 = redisCpuMicros(redis);
  const wall0 = performance.now();
  await inFlight(parallel, count, call);
  const wall = (performance.now() - wall0) * 1000;
  return { cpu: (redisCpuMicros(redis) - cpu0) / count, wall };
}

function cost(steps: Record<Step, { cpu: number; wall: number }>, count: number): RedisLoadCost {
  const wall = steps.pop.wall + steps.submit.wall;
  return { pop: steps.pop.cpu, submit: steps.submit.cpu, status: steps.status.cpu, busy: ((steps.pop.cpu + steps.submit.cpu) * count) / wall, cyclesPerSecond: count / (wall / 1e6) };
}

/** A redis-server with the workload: its stores, and every FCALL sent while `recording` is set. */
class Side {
  readonly stores: WorkloadStores & { store: RedisGenerationStore };
  recording: (string | number)[][] | undefined;
  private popped = 0;

  private constructor(readonly redis: TestRedisServer, readonly connection: RedisConnection) {
    this.stores = { store: new RedisGenerationStore(connection), servers: new RedisServerRepository(connection) };
    const client = connection.client;
    const fcall = client.fcall.bind(client) as (...args: (string | number)[]) => Promise<unknown>;
    client.fcall = ((...args: (string | number)[]) => {
      this.recording?.push(args);
      return fcall(...args);
    }) as typeof client.fcall;
  }

  static async start(now: number, jobs: number): Promise<Side> {
    const redis = await TestRedisServer.start();
    const connection = new RedisConnection(redis.socketUrl);
    const side = new Side(redis, connection);
    if (!(await connection.whenReady(5_000))) throw new Error('capacity: no Redis connection');
    await fillWorkload(side.stores, now, WAITING, jobs);
    // A warm-up cycle (the first call of each kind pays for loading), alike on both sides.
    await side.throughStore(1, 1, now);
    return side;
  }

  /** `count` pops, their submits, the status reads of their requests, `parallel` in flight. */
  async throughStore(parallel: number, count: number, now: number): Promise<Record<Step, { cpu: number; wall: number }>> {
    const jobs: StartedJob[] = [];
    const pop = await timed(this.redis, parallel, count, async () => {
      const n = ++this.popped;
      const job = await popJob(this.stores, `gen-${n}`, n, now);
      if (!job) throw new Error('capacity: a pop found no job');
      jobs.push(job);
    });
    const submit = await timed(this.redis, parallel, count, async (i) => submitJob(this.stores, jobs[i], now, 'capacity'));
    const status = await timed(this.redis, parallel, count, async (i) => {
      if (!(await this.stores.store.findStanding(jobs[i].requestId, [OFFER]))) throw new Error('capacity: a status read found no request');
    });
    return { pop, submit, status };
  }

  async stop(): Promise<void> {
    await this.connection.onApplicationShutdown();
    await this.redis.stop();
  }
}

/** RESP of one command. */
function resp(args: (string | number)[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(String(arg))}\r\n${String(arg)}\r\n`).join('')}`;
}

/**
 * Sends the commands by PIPES redis-cli --pipe processes at once, each a contiguous share on its own
 * connection (each checked: every command answered, none an error): Redis CPU per command and the wall time, µs.
 */
async function pipe(redis: TestRedisServer, commands: (string | number)[][], temp: string): Promise<{ cpu: number; wall: number }> {
  const share = Math.ceil(commands.length / PIPES);
  const files = Array.from({ length: PIPES }, (_, k) => {
    const file = join(temp, `commands-${k}.resp`);
    writeFileSync(file, commands.slice(k * share, (k + 1) * share).map((command) => resp(['FCALL', ...command])).join(''));
    return { file, count: Math.max(0, Math.min(share, commands.length - k * share)) };
  });
  const cpu0 = redisCpuMicros(redis);
  const wall0 = performance.now();
  const outputs = await Promise.all(files.map(({ file }) => run('sh', ['-c', `redis-cli -s '${redis.socketPath}' --pipe < '${file}'`])));
  const wall = (performance.now() - wall0) * 1000;
  const cpu = (redisCpuMicros(redis) - cpu0) / commands.length;
  for (const [k, out] of outputs.entries()) {
    const counts = /errors: (\d+), replies: (\d+)/.exec(out);
    if (!counts || counts[1] !== '0' || Number(counts[2]) !== files[k].count) throw new Error(`capacity: redis-cli --pipe: ${out.trim()}`);
  }
  return { cpu, wall };
}

/** Runs a command to its end: its standard output (rejects on a failure). */
function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', maxBuffer: 1 << 20 }, (error, stdout) => (error ? reject(new Error(`${command} ${args.join(' ')}: ${error.message}`)) : resolve(stdout)));
  });
}

/** Measures Redis at capacity (replayed), through the store, and one call at a time (see the file's comment). */
export async function measureRedisCapacity(cycles = 20_000, log: (message: string) => void = () => undefined): Promise<RedisCapacityFigures> {
  const cpu = availableParallelism() >= 2 ? String(availableParallelism() - 1) : undefined;
  const now = Date.now();
  const alone = Math.max(1, Math.round(cycles / 40));
  const jobs = cycles + alone + 1;
  const sides: Side[] = [];
  const temp = mkdtempSync(join(tmpdir(), 'kc-capacity-'));
  let unpin = (): void => undefined;
  // The measured redis-server alone on the last CPU (none pinned on a 1-CPU machine): the one pinned before goes back first.
  const pinAlone = (side: Side): void => {
    unpin();
    unpin = cpu === undefined ? () => undefined : pinRedisAlone(cpu, side.redis.pid as number, []);
  };
  try {
    const a = await Side.start(now, jobs);
    sides.push(a);
    const b = await Side.start(now, jobs);
    sides.push(b);
    log(`capacity: two redis-servers with ${WAITING.toLocaleString('en-US')} waiting requests and ${jobs.toLocaleString('en-US')} jobs each`);
    pinAlone(a);
    // Through the store, each step's FCALLs recorded (throughStore runs the steps in order).
    a.recording = [];
    const through = await a.throughStore(THROUGH_STORE, cycles, now);
    const all = a.recording;
    a.recording = undefined;
    if (all.length !== 3 * cycles) throw new Error(`capacity: ${all.length} FCALLs recorded for ${cycles} cycles (3 each expected)`);
    pinAlone(b);
    // Replayed on B as sent, by redis-cli --pipe (it writes them all and reads the answers as they come).
    const replay = {} as Record<Step, { cpu: number; wall: number }>;
    for (const [k, step] of STEPS.entries()) replay[step] = await pipe(b.redis, all.slice(k * cycles, (k + 1) * cycles), temp);
    const state = (side: Side): string =>
      [['DBSIZE'], ['HGETALL', USER_TALLY_KEYS.usage], ['HGETALL', USER_TALLY_KEYS.contributions], ['ZCARD', GENERATION_KEY_PREFIX + 'whole'], ['ZCARD', GENERATION_KEY_PREFIX + 'deadlines']]
        .map((command) => side.redis.cli(...command))
        .join(' | ');
    if (state(a) !== state(b)) throw new Error(`capacity: the replay left another state than the store's calls: ${state(b)} against ${state(a)}`);
    pinAlone(a);
    const oneAtATime = cost(await a.throughStore(1, alone, now), alone);
    const figures = { replayed: cost(replay, cycles), throughStore: cost(through, cycles), oneAtATime, redisCpu: cpu, cycles };
    const line = (name: string, c: RedisLoadCost): string =>
      `capacity ${name}: Redis CPU pop ${c.pop.toFixed(1)} + submit ${c.submit.toFixed(1)} = ${(c.pop + c.submit).toFixed(1)} µs, status ${c.status.toFixed(1)} µs; Redis busy ${(c.busy * 100).toFixed(0)}%, ${Math.round(c.cyclesPerSecond)} cycles/s`;
    log(line('replayed (redis-cli --pipe)', figures.replayed));
    log(line(`through the store (${THROUGH_STORE} in flight)`, figures.throughStore));
    log(line('one at a time', figures.oneAtATime));
    return figures;
  } finally {
    unpin();
    for (const side of sides) await side.stop();
    rmSync(temp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  measureRedisCapacity(Number(process.env.BENCH_CHUNK ?? 20_000), (message) => console.error(message)).then(
    (f) => {
      const row = (name: string, c: RedisLoadCost): string =>
        `| ${name} | ${c.pop.toFixed(1)} / ${c.submit.toFixed(1)} / ${c.status.toFixed(1)} µs | **${(c.pop + c.submit).toFixed(1)} µs** (${Math.round(1e6 / (c.pop + c.submit)).toLocaleString('en-US')} per s of Redis CPU) | ${(c.busy * 100).toFixed(0)}% | ${Math.round(c.cyclesPerSecond).toLocaleString('en-US')} |`;
      console.log(`Redis CPU per call (INFO cpu), ${f.cycles.toLocaleString('en-US')} cycles; ${f.redisCpu === undefined ? 'redis-server not pinned (one CPU)' : `the measured redis-server alone on CPU ${f.redisCpu}`}`);
      console.log('| calls | pop / submit / status | pop + submit | Redis busy | cycles/s fed |');
      console.log('| --- | --- | --- | --- | --- |');
      console.log(row('replayed back to back (redis-cli --pipe): capacity', f.replayed));
      console.log(row(`through the store, ${THROUGH_STORE} in flight`, f.throughStore));
      console.log(row('through the store, one at a time', f.oneAtATime));
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
