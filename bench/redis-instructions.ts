/**
 * Redis instructions per pop and per submit of the Redis generation store (issue 13; not part of
 * `npm test` or CI): counts, not times, so a change of a few per cent shows on a shared, noisy machine.
 * Starts a private redis-server under `valgrind --tool=callgrind` (instrumentation off), fills it with
 * 40 servers (each with a full window of recent jobs and as many requests fulfilled, as a busy server has) and 10,000 waiting requests
 * no server can serve and BENCH_OPS (1,000) that one can, then counts the instructions Redis executes
 * for BENCH_OPS pops (callgrind_control -i on/off around them) and for their submits. Both pop paths
 * are measured, each on a fresh server: `popFor` (one function call: check-in and take) and the two
 * calls it replaced (ServerRepository.checkInByName, then takeNextSlot). Then, on a Horde-shaped queue
 * (measureHorde: 40 offer lines, BENCH_HORDE_WAITING (5,000) requests of 25 generations), the instructions
 * per pop that starts a slot and per status read over the 40 offers, with deferred slots and without, and
 * per pop that finds nothing (the 40 servers' pops before anything waits).
 *
 *   npx ts-node --transpile-only bench/redis-instructions.ts   (BENCH_OPS=<n>; BENCH_USERS=<requesters>, 1;
 *                                                              BENCH_REDIS_ARGS="<redis-server arguments>";
 *                                                              BENCH_UNUSED_SERVERS=1: servers that never fulfilled a request)
 *
 * Needs valgrind (Debian's package). BENCH_USERS=500 shows the cost of tallies kept in small hashes:
 * Redis keeps a hash of up to hash-max-listpack-entries fields (512 in Debian's Redis 7) as a list that
 * each HINCRBY scans.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NewRequest } from '../src/generation/persistence/generation.store';
import { RedisConnection } from '../src/common/redis/redis-connection';
import { RedisGenerationStore } from '../src/generation/persistence/redis-generation.store';
import { PERFORMANCE_WINDOW } from '../src/servers/domain/kobold-server';
import { RedisServerRepository } from '../src/servers/persistence/redis-server.repository';
import { connectToRedis } from '../test/support/redis-server';
import { hordeOffers, hordeWishes, random } from './horde-shape';

const OPS = Number(process.env.BENCH_OPS ?? 1_000);
const USERS = Number(process.env.BENCH_USERS ?? 1);
/** BENCH_UNUSED_SERVERS=1: servers that never fulfilled a request despite their recent jobs (the state counted before 2026-11-25 14:40Z). */
const UNUSED_SERVERS = process.env.BENCH_UNUSED_SERVERS === '1';
/** Extra redis-server arguments, e.g. "--hash-max-listpack-entries 64". */
const REDIS_ARGS = (process.env.BENCH_REDIS_ARGS ?? '').split(' ').filter((arg) => arg.length > 0);
const SERVERS = 40;
/** The Horde-shaped count's waiting requests (25 generations each) and pops. */
const HORDE_WAITING = Number(process.env.BENCH_HORDE_WAITING ?? 5_000);
const HORDE_POPS = 2_000;
const HASH = 'scrypt$bench';
const OFFER = { model: 'm', maxLength: 512, maxContentLength: 2048 };
const DEADLINE = { GENERATION_TIMEOUT_MIN_SECONDS: 120, GENERATION_TIMEOUT_SAFETY_FACTOR: 3, PROMPT_EXPIRY_SECONDS: 600 };

type PopPath = 'popFor' | 'checkInByName + takeNextSlot';

/** Tells the callgrind of `pid` something (-i on/off, -z, -d label). */
function callgrind(pid: number, ...args: string[]): void {
  execFileSync('callgrind_control', [...args, String(pid)], { stdio: 'ignore' });
}

/** The instructions Redis executed while collection was on, from the dump callgrind writes now. */
function dumpedInstructions(pid: number, dir: string, label: string): number {
  callgrind(pid, '-i', 'off');
  const before = new Set(readdirSync(dir));
  callgrind(pid, '-d', label);
  const file = readdirSync(dir).find((name) => name.startsWith('callgrind.out.') && !before.has(name));
  if (!file) throw new Error(`callgrind wrote no dump for ${label}`);
  const totals = /([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS/.exec(execFileSync('callgrind_annotate', [join(dir, file)], { encoding: 'utf8' }));
  callgrind(pid, '-z');
  return Number(totals?.[1].replaceAll(',', '') ?? NaN);
}

/**
 * Runs `work` against a private redis-server under callgrind (collection off until `count` turns it on):
 * `count(label, operations)` answers the instructions Redis executed while `operations` ran.
 */
async function withCountedRedis<T>(work: (connection: RedisConnection, count: (label: string, operations: () => Promise<void>) => Promise<number>) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'kc-callgrind-'));
  const socket = join(dir, 'redis.sock');
  const redis = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${join(dir, 'callgrind.out.%n')}`, 'redis-server', '--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no', '--dir', dir, ...REDIS_ARGS], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 200 && !readdirSync(dir).includes('redis.sock'); i++) await sleep(100);
    const connection = await connectToRedis(`unix://${socket}`);
    const pid = redis.pid as number;
    const count = async (label: string, operations: () => Promise<void>): Promise<number> => {
      callgrind(pid, '-z');
      callgrind(pid, '-i', 'on');
      await operations();
      return dumpedInstructions(pid, dir, label);
    };
    const result = await work(connection, count);
    void connection.onApplicationShutdown();
    return result;
  } finally {
    redis.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(path: PopPath): Promise<{ pop: number; submit: number; started: number }> {
  return withCountedRedis(async (connection, count) => {
    const store = new RedisGenerationStore(connection);
    const servers = new RedisServerRepository(connection);
    const now = Date.now();
    for (let i = 0; i < SERVERS; i++) {
      const recentJobs = Array.from({ length: PERFORMANCE_WINDOW }, (_, j) => ({ tokens: 70 + j, seconds: 2.1 + j / 7 }));
      // A busy server has fulfilled the requests of its recent jobs (and is not in servers:unused, whose place a never-used server's pop moves).
      const fulfilled = UNUSED_SERVERS ? { tokensGenerated: 0, requestsFulfilled: 0 } : { tokensGenerated: recentJobs.reduce((sum, job) => sum + job.tokens, 0), requestsFulfilled: recentJobs.length };
      await servers.create({
        id: `server-${i}`, name: `box-${i}`, owner: 'owner', passwordHash: HASH, ...OFFER, ...fulfilled,
        recentJobs, createdAt: 0, lastSeenAt: now, maintenance: false, info: '',
      });
    }
    let next = 0;
    const request = (servable: boolean): NewRequest => {
      const username = `user-${next % USERS}`;
      return { id: `req-${next++}`, prompt: 'x'.repeat(1024), params: { max_length: 80 }, username, requesterKey: username, wishes: { models: servable ? [] : ['nobody-runs-this'], maxLength: 80, maxContentLength: 1024 }, n: 1, priority: -next, now };
    };
    for (let i = 0; i < 10_000; i++) await store.enqueue(request(false), 1e9);
    for (let i = 0; i <= OPS; i++) await store.enqueue(request(true), 1e9);
    const started: { generationId: string; serverId: string }[] = [];
    const pop = async (i: number): Promise<void> => {
      const name = `box-${i % SERVERS}`;
      const update = { owner: 'owner', ...OFFER, lastSeenAt: now + 1 };
      const generationId = `gen-${i}`;
      if (path === 'popFor') {
        const popped = await store.popFor({ name, provenPasswordHash: HASH, update, models: [OFFER.model], priorityUsernames: [], generationId, deadline: DEADLINE });
        if (popped && 'started' in popped) started.push({ generationId, serverId: popped.server.id });
      } else {
        const found = await servers.checkInByName(name, update, HASH);
        const serverId = found?.before.id as string;
        const taken = await store.takeNextSlot({ offer: OFFER, priorityUsernames: new Set(['owner']), serverId, generationId, deadline: { minMs: 120_000, msPerToken: 60, maxMs: 600_000 }, now: now + 1 });
        if ('requestId' in taken) started.push({ generationId, serverId });
      }
    };
    // The first of each loads the library and the scripts (and makes the offer's line); then one at a time, so only the store's work is counted.
    await pop(0);
    await store.submit({ ...started[0], text: 'y'.repeat(400), now: now + 2_000, tokens: 80, provenServerIds: [started[0].serverId] });
    const pops = await count('pops', async () => {
      for (let i = 1; i <= OPS; i++) await pop(i);
    });
    const submits = await count('submits', async () => {
      for (const job of started.slice(1)) await store.submit({ ...job, text: 'y'.repeat(400), now: now + 2_000, tokens: 80, provenServerIds: [job.serverId] });
    });
    return { pop: pops / OPS, submit: submits / (started.length - 1), started: started.length - 1 };
  });
}

/**
 * A Horde-shaped queue (bench/horde-shape.ts): 40 servers of distinct offers, HORDE_WAITING requests of 25
 * generations each; each server pops in turn (every pop starts a slot, and a request's generations are
 * started one after the other, so deferred slots matter), then status reads over the 40 offers.
 */
async function measureHorde(deferredCounts: number): Promise<{ pop: number; emptyPop: number; status: number; deferring: number }> {
  return withCountedRedis(async (connection, count) => {
    const store = new RedisGenerationStore(connection, { deferredCounts });
    const servers = new RedisServerRepository(connection);
    const offers = hordeOffers(SERVERS);
    const now = Date.now();
    for (let i = 0; i < SERVERS; i++) {
      await servers.create({
        id: `server-${i}`, name: `box-${i}`, owner: `owner-${i % 10}`, passwordHash: HASH, ...offers[i], tokensGenerated: 0, requestsFulfilled: 0,
        recentJobs: [], createdAt: 0, lastSeenAt: now, maintenance: false, info: '',
      });
    }
    const pop = (i: number) => {
      const server = i % SERVERS;
      const update = { owner: `owner-${server % 10}`, ...offers[server], lastSeenAt: now + i };
      return store.popFor({ name: `box-${server}`, provenPasswordHash: HASH, update, models: [offers[server].model], priorityUsernames: [], generationId: `gen-${i}`, deadline: DEADLINE });
    };
    // Every offer's line exists before anything waits (the steady state of a cluster).
    for (let i = 0; i < SERVERS; i++) await pop(HORDE_POPS + i);
    // Pops of the 40 servers while nothing waits: each finds nothing (the empty queue's pops of the HTTP
    // bench). The warm-up's times again, so that the pops counted below move no last-seen time differently.
    const empty = await count('horde-empty-pops', async () => {
      for (let i = 0; i < HORDE_POPS; i++) await pop(HORDE_POPS + (i % SERVERS));
    });
    const rand = random(42);
    for (let i = 0; i < HORDE_WAITING; i++) {
      const username = `user-${Math.floor(rand() * 5000)}`;
      await store.enqueue({ id: `req-${i}`, prompt: 'x'.repeat(1024), params: { max_length: 80 }, username, requesterKey: username, wishes: hordeWishes(rand), n: 25, priority: Math.round((rand() - 0.5) * 2000), now }, 1e9);
    }
    let started = 0;
    const pops = await count('horde-pops', async () => {
      for (let i = 0; i < HORDE_POPS; i++) {
        const popped = await pop(i);
        if (popped && 'started' in popped) started += 1;
      }
    });
    if (started !== HORDE_POPS) throw new Error(`Horde-shaped: ${started} of ${HORDE_POPS} pops started a slot`);
    const statusReads = 200;
    const status = await count('horde-status', async () => {
      for (let i = 0; i < statusReads; i++) await store.findStanding(`req-${(i * 37) % HORDE_WAITING}`, offers);
    });
    const deferring = await connection.run((client) => client.hlen('{kc}:gen:deferred'));
    return { pop: pops / HORDE_POPS, emptyPop: empty / HORDE_POPS, status: status / statusReads, deferring };
  });
}

async function main(): Promise<void> {
  console.log(`Redis instructions per operation (callgrind), ${OPS} pops and their submits, 10,000 other waiting requests, ${USERS} requester(s)${UNUSED_SERVERS ? ", servers that never fulfilled a request" : ""}${REDIS_ARGS.length > 0 ? `, redis-server ${REDIS_ARGS.join(' ')}` : ''}`);
  console.log('| pop path | instructions per pop | per submit | pop + submit |');
  console.log('| --- | --- | --- | --- |');
  for (const path of ['checkInByName + takeNextSlot', 'popFor'] as const) {
    const { pop, submit, started } = await measure(path);
    if (started !== OPS) throw new Error(`${path}: ${started} of ${OPS} pops started a slot`);
    console.log(`| ${path} | ${Math.round(pop).toLocaleString('en-US')} | ${Math.round(submit).toLocaleString('en-US')} | ${Math.round(pop + submit).toLocaleString('en-US')} |`);
  }
  console.log(`\nHorde-shaped (bench/horde-shape.ts): 40 offer lines, ${HORDE_WAITING.toLocaleString('en-US')} waiting requests of 25 generations, ${HORDE_POPS.toLocaleString('en-US')} pops that start a slot, 200 status reads over the 40 offers`);
  console.log('| deferred slots | instructions per pop | per pop that finds nothing (before the fill) | per status read | requests keeping deferred slots after the pops |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const deferredCounts of [0, 64]) {
    const { pop, emptyPop, status, deferring } = await measureHorde(deferredCounts);
    console.log(`| ${deferredCounts === 0 ? 'none (deferredCounts 0)' : `up to ${deferredCounts} requests`} | ${Math.round(pop).toLocaleString('en-US')} | ${Math.round(emptyPop).toLocaleString('en-US')} | ${Math.round(status).toLocaleString('en-US')} | ${deferring} |`);
  }
  process.exit(0);
}
void main();
