/**
 * The store-level workload of the Redis benches (bench/redis-alternate.ts, bench/redis-capacity.ts):
 * 40 busy servers of one offer (each with a full window of recent jobs and as many requests fulfilled),
 * requests with a 1 KB prompt from one requester, pops by the servers in turn and submits of 400
 * characters. Typed loosely, so that another build's compiled stores (redis-alternate) fit too.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { PERFORMANCE_WINDOW } from '../src/servers/domain/kobold-server';
import { TestRedisServer } from '../test/support/redis-server';

export const SERVERS = 40;
export const HASH = 'scrypt$bench';
export const OFFER = { model: 'm', maxLength: 512, maxContentLength: 2048 };
const DEADLINE = { GENERATION_TIMEOUT_MIN_SECONDS: 120, GENERATION_TIMEOUT_SAFETY_FACTOR: 3, PROMPT_EXPIRY_SECONDS: 600 };

/** What the workload uses of a generation store and a server repository. */
export interface WorkloadStores {
  store: {
    enqueue(request: unknown, cap: number): Promise<unknown>;
    popFor(pop: unknown): Promise<{ started?: { requestId: string }; server: { id: string } } | undefined>;
    submit(submission: unknown): Promise<{ outcome: string }>;
  };
  servers: { create(server: unknown): Promise<unknown> };
}

/** A started job: what its submit and its status read need. */
export interface StartedJob {
  generationId: string;
  serverId: string;
  requestId: string;
}

/** Runs `work(i)` for i = 0 .. count - 1, `inFlight` at a time. */
export async function inFlight(inFlightCount: number, count: number, work: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlightCount }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

/** The 40 busy servers box-0 .. box-39. */
export async function addBusyServers(stores: WorkloadStores, now: number): Promise<void> {
  for (let i = 0; i < SERVERS; i++) {
    const recentJobs = Array.from({ length: PERFORMANCE_WINDOW }, (_, j) => ({ tokens: 70 + j, seconds: 2.1 + j / 7 }));
    await stores.servers.create({
      id: `server-${i}`, name: `box-${i}`, owner: 'owner', passwordHash: HASH, ...OFFER, tokensGenerated: recentJobs.reduce((sum, job) => sum + job.tokens, 0),
      requestsFulfilled: PERFORMANCE_WINDOW, recentJobs, createdAt: 0, lastSeenAt: now, maintenance: false, info: '',
    });
  }
}

/** Request `req-<i>`: servable by the servers, or wishing a model none runs. */
export function workloadRequest(i: number, servable: boolean, now: number): object {
  return {
    id: `req-${i}`, prompt: 'x'.repeat(1024), params: { max_length: 80 }, username: 'user', requesterKey: 'user',
    wishes: { models: servable ? [] : ['nobody-runs-this'], maxLength: 80, maxContentLength: 1024 }, n: 1, priority: -i, now,
  };
}

/**
 * Fills a fresh store: the servers, one pop (the offer's line exists before anything waits: a cluster's
 * steady state), `waiting` requests none of them can serve, then `jobs` they can. Answers the next request number.
 */
export async function fillWorkload(stores: WorkloadStores, now: number, waiting: number, jobs: number): Promise<number> {
  await addBusyServers(stores, now);
  await popJob(stores, 'gen-line', 0, now);
  await inFlight(10, waiting, async (i) => void (await stores.store.enqueue(workloadRequest(i, false, now), 1e9)));
  await inFlight(10, jobs, async (i) => void (await stores.store.enqueue(workloadRequest(waiting + i, true, now), 1e9)));
  return waiting + jobs;
}

/** Pop number `i` (by server box-<i mod 40>), generation `generationId`: the started job, if any. */
export async function popJob(stores: WorkloadStores, generationId: string, i: number, now: number): Promise<StartedJob | undefined> {
  const popped = await stores.store.popFor({
    name: `box-${i % SERVERS}`, provenPasswordHash: HASH, update: { owner: 'owner', ...OFFER, lastSeenAt: now + 1 }, models: [OFFER.model], priorityUsernames: [], generationId, deadline: DEADLINE,
  });
  return popped?.started ? { generationId, serverId: popped.server.id, requestId: popped.started.requestId } : undefined;
}

/** The submit of a started job (400 characters, 80 tokens, 2 s after `now`); throws unless accepted. */
export async function submitJob(stores: WorkloadStores, job: StartedJob, now: number, who: string): Promise<void> {
  const outcome = await stores.store.submit({ generationId: job.generationId, serverId: job.serverId, text: 'y'.repeat(400), now: now + 2_000, tokens: 80, provenServerIds: [job.serverId] });
  if (outcome.outcome !== 'accepted') throw new Error(`${who}: a submit was ${outcome.outcome}`);
}

/**
 * Pins a redis-server alone to `cpu` and the `others` processes (every thread) to the other CPUs (taskset),
 * as a deployment gives Redis a core of its own; answers the undo for this process.
 */
export function pinRedisAlone(cpu: string, redisPid: number, others: number[]): () => void {
  const all = `0-${availableParallelism() - 1}`;
  const rest = Array.from({ length: availableParallelism() }, (_, n) => n).filter((n) => String(n) !== cpu).join(',');
  if (rest === '') throw new Error(`CPU ${cpu}: no other CPU left for the bench and the servers`);
  const pin = (cpus: string, pid: number): void => void execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  pin(cpu, redisPid);
  for (const pid of [process.pid, ...others]) pin(rest, pid);
  return () => pin(all, process.pid);
}

/** A redis-server's CPU time (user + system: commands, scripts and socket I/O), µs. */
export function redisCpuMicros(redis: TestRedisServer): number {
  const info = redis.cli('INFO', 'cpu');
  const read = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return (read('used_cpu_user') + read('used_cpu_sys')) * 1e6;
}
