import fc from 'fast-check';
import { RedisConnection, SharedStoreUnavailableException } from '../../common/redis/redis-connection';
import { jobMilliseconds, KoboldServer, PERFORMANCE_WINDOW, tokensPerSecond } from '../../servers/domain/kobold-server';
import { RedisServerRepository, SEEN_GRANULARITY_MS } from '../../servers/persistence/redis-server.repository';
import { deadlineOf, deadlineRuleFor } from '../domain/deadline';
import { RedisUserRepository } from '../../users/persistence/redis-user.repository';
import { useTestRedis } from '../../../test/support/redis-server';
import { ProcessingGeneration } from '../domain/processing-generation';
import { PromptQueue, ServerOffer } from '../domain/prompt-queue';
import { PromptWishes, WaitingPrompt } from '../domain/waiting-prompt';
import { DeadlineRule, NewRequest, StartedGeneration } from './generation.store';
import { ACTIVITY_INDEX_LAG_MS } from './redis/generation-scripts';
import { deferredSlotsAhead, RedisGenerationStore } from './redis-generation.store';

const redis = useTestRedis();

const OFFER: ServerOffer = { model: 'nerys', maxLength: 80, maxContentLength: 1024 };
const DEADLINE: DeadlineRule = { minMs: 1_000, msPerToken: 0, maxMs: 60_000 };

let nextId = 0;
function newRequest(overrides: Partial<NewRequest> = {}, wishes: Partial<PromptWishes> = {}): NewRequest {
  const id = `r${nextId++}`;
  return {
    id,
    prompt: `prompt of ${id}`,
    params: { temperature: 0.7 },
    username: 'alice',
    requesterKey: 'alice',
    wishes: { models: [], maxLength: 80, maxContentLength: 1024, ...wishes },
    n: 1,
    priority: 0,
    now: 1_000,
    ...overrides,
  };
}

/** The servers the tests pop as (each created in Redis, owner bob), all proven to the submits. */
const PROVEN = ['server-1', 'server-a', 'server-b'];

async function addServer(connection: RedisConnection, id: string, name = `box ${id}`): Promise<void> {
  await new RedisServerRepository(connection).create({
    id, name, owner: 'bob', passwordHash: 'x', model: 'nerys', maxLength: 80, maxContentLength: 1024,
    tokensGenerated: 0, requestsFulfilled: 0, recentJobs: [], createdAt: 0, lastSeenAt: 0, maintenance: false, info: '',
  });
}

/** server-1's stored job sums (jobTokens, jobMs) and what they must be: the sums over its recent jobs' list. */
function jobSums(server: KoboldServer): { stored: number[]; ofList: number[] } {
  return {
    stored: redis.server.cli('HMGET', '{kc}:server:server-1', 'jobTokens', 'jobMs').split('\n').map(Number),
    ofList: [server.recentJobs.reduce((sum, job) => sum + job.tokens, 0), server.recentJobs.reduce((sum, job) => sum + jobMilliseconds(job), 0)],
  };
}

let nextGeneration = 0;
async function pop(
  store: RedisGenerationStore,
  offer: ServerOffer = OFFER,
  priorityUsernames: string[] = [],
  now = 2_000,
  serverId = 'server-1',
  deadline: DeadlineRule = DEADLINE,
): Promise<StartedGeneration | { skipped: Record<string, number> }> {
  return store.takeNextSlot({ offer, priorityUsernames: new Set(priorityUsernames), serverId, generationId: `g${nextGeneration++}`, deadline, now });
}

async function popId(store: RedisGenerationStore, offer: ServerOffer = OFFER, priorityUsernames: string[] = []): Promise<string | null> {
  const taken = await pop(store, offer, priorityUsernames);
  return 'requestId' in taken ? taken.requestId : null;
}

/** Queues `count` requests of n 1, one a millisecond from `from`; answers their ids. */
async function enqueueOnePerMs(store: RedisGenerationStore, count: number, from: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const request = newRequest({ now: from + i });
    ids.push(request.id);
    await store.enqueue(request, 100);
  }
  return ids;
}

function started(taken: StartedGeneration | { skipped: unknown }): StartedGeneration {
  if (!('requestId' in taken)) throw new Error(`Expected a started generation, got ${JSON.stringify(taken)}`);
  return taken;
}

describe('deferredSlotsAhead', () => {
  const offers: ServerOffer[] = [
    { model: 'a', maxLength: 80, maxContentLength: 1024 },
    { model: 'b', maxLength: 40, maxContentLength: 2048 },
  ];
  const entry = (score: string, maxLength: number, maxContentLength: number, models: string[]): string =>
    `id\n${score}\n${maxLength}\n${maxContentLength}\n${models.length > 0 ? `\n${models.join('\n')}\n` : ''}`;

  it('takes the deferred slots of the requests served first off the ranks of the offers that can serve them', () => {
    const deferred = [
      ['0000000000000001', '3', entry('-5', 40, 1024, [])], // higher priority, any model: both lines
      ['0000000000000002', '2', entry('0', 80, 1024, ['a'])], // same score, older: line a only
      ['0000000000000009', '4', entry('0', 10, 512, [])], // same score, newer: not ahead
      ['0000000000000003', '1', entry('7', 10, 512, [])], // lower priority: not ahead
      ['0000000000000004', '5', entry('-9', 90, 512, ['a', 'b'])], // max_length beyond a's and b's
    ].flat();
    expect(deferredSlotsAhead([10, 6, -1], [...offers, { model: 'c', maxLength: 80, maxContentLength: 1024 }], 0, '0000000000000005', deferred)).toEqual([5, 3, -1]);
  });

  it('leaves the ranks as they are without deferred slots, and a rank of 0 alone', () => {
    expect(deferredSlotsAhead([4, 0], offers, 0, '0000000000000005', [])).toEqual([4, 0]);
    expect(deferredSlotsAhead([0, 2], offers, 0, '0000000000000005', ['0000000000000001', '2', entry('-1', 1, 1, ['b'])])).toEqual([0, 0]);
  });
});

/** A command Redis ran, as MONITOR shows it: its name and arguments, and whether a script (a function) called it. */
interface MonitoredCommand {
  args: string[];
  inScript: boolean;
}

/** The commands Redis ran while `run` ran (`connection`: the one `run` uses), as MONITOR shows them. */
async function monitored(connection: RedisConnection, run: () => Promise<unknown>): Promise<MonitoredCommand[]> {
  const watcher = await redis.connect();
  const monitor = await watcher.client.monitor();
  const seen: MonitoredCommand[] = [];
  let markerSeen: () => void = () => undefined;
  const marker = new Promise<void>((resolve) => (markerSeen = resolve));
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (args[0] === 'ping' && args[1] === 'end-of-run') markerSeen();
    else seen.push({ args, inScript: source.startsWith('lua') });
  });
  try {
    await run();
    await connection.run((client) => client.ping('end-of-run'));
    await marker;
  } finally {
    monitor.disconnect();
  }
  return seen;
}

describe('RedisGenerationStore', () => {
  let connection: RedisConnection;
  let store: RedisGenerationStore;
  beforeEach(async () => {
    connection = await redis.flush();
    store = new RedisGenerationStore(connection);
    for (const id of PROVEN) await addServer(connection, id);
  });

  describe('requests', () => {
    it('keeps a request under the {kc} hash tag and reads it back without its prompt', async () => {
      const request = newRequest({ n: 2 }, { models: ['nerys', 'other'] });
      await expect(store.enqueue(request, 10)).resolves.toBe('queued');
      expect(redis.server.cli('HGET', `{kc}:gen:req:${request.id}`, 'prompt')).toBe(request.prompt);
      await expect(store.findRequest(request.id)).resolves.toEqual({
        id: request.id,
        username: 'alice',
        requesterKey: 'alice',
        wishes: request.wishes,
        n: 2,
        createdAt: 1_000,
        lastActivityAt: 1_000,
        waiting: 2,
        processing: 0,
        restarted: 0,
        cancelled: false,
        generations: [],
        generationAuthors: [],
        done: false,
      });
      await expect(store.findRequest('nope')).resolves.toBeUndefined();
    });

    it('checks the per-requester cap and queues in one step, even from several instances at once', async () => {
      const others = await Promise.all([redis.connect(), redis.connect()]);
      const stores = [store, ...others.map((c) => new RedisGenerationStore(c))];
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => stores[i % 3].enqueue(newRequest({ requesterKey: 'Anonymous@10.0.0.1', username: 'Anonymous' }), 7)),
      );
      expect(answers.filter((a) => a === 'queued')).toHaveLength(7);
      await expect(store.countUnfinishedByRequester('Anonymous@10.0.0.1')).resolves.toBe(7);
      await expect(store.countUnfinishedByUsername('Anonymous')).resolves.toBe(7);
      await expect(store.countUnfinishedByRequester('nobody')).resolves.toBe(0);
    });

    it('counts a request as unfinished until it is done, then frees the cap', async () => {
      const request = newRequest();
      await store.enqueue(request, 1);
      await expect(store.enqueue(newRequest(), 1)).resolves.toBe('over-limit');
      const taken = started(await pop(store));
      await expect(store.countUnfinishedByUsername('alice')).resolves.toBe(1);
      await store.submit({ generationId: taken.generationId, text: 'done', now: 3_000, tokens: 1, provenServerIds: PROVEN });
      await expect(store.countUnfinishedByRequester('alice')).resolves.toBe(0);
      await expect(store.enqueue(newRequest(), 1)).resolves.toBe('queued');
    });
  });

  describe('matching', () => {
    it('serves higher priority first, then the older request, a request\'s slots side by side', async () => {
      const old = newRequest({ n: 2, priority: -5 });
      const low = newRequest({ n: 1, priority: -5.25 });
      const high = newRequest({ n: 2, priority: 1e-9 });
      for (const r of [old, low, high]) await store.enqueue(r, 10);
      const order: (string | null)[] = [];
      for (let i = 0; i < 6; i++) order.push(await popId(store));
      expect(order).toEqual([high.id, high.id, old.id, old.id, low.id, null]);
    });

    it('keeps priorities that differ in the last bit of a double apart', async () => {
      const a = newRequest({ priority: -1732500000.0000002 });
      const b = newRequest({ priority: -1732500000 });
      await store.enqueue(a, 10);
      await store.enqueue(b, 10);
      expect(await popId(store)).toBe(b.id);
      expect(await popId(store)).toBe(a.id);
    });

    it('serves the priority usernames first, their best servable request', async () => {
      const first = newRequest({ username: 'carol', priority: 10 });
      const vip1 = newRequest({ username: 'vip', priority: 5 }, { models: ['other'] });
      const vip2 = newRequest({ username: 'vip', priority: 1 });
      const vip3 = newRequest({ username: 'vip', priority: 3 });
      for (const r of [first, vip1, vip2, vip3]) await store.enqueue(r, 10);
      expect(await popId(store, OFFER, ['vip', 'nobody'])).toBe(vip3.id);
      expect(await popId(store, OFFER, ['vip'])).toBe(vip2.id);
      expect(await popId(store, OFFER, ['vip'])).toBe(first.id);
      expect(await pop(store, OFFER, ['vip'])).toEqual({ skipped: { model: 1, max_content_length: 0, max_length: 0 } });
    });

    it('counts what it skipped by first reason, also for requests that came after the line was made', async () => {
      await store.enqueue(newRequest({}, { models: ['other'], maxLength: 999, maxContentLength: 9999 }), 10);
      await expect(pop(store)).resolves.toEqual({ skipped: { model: 1, max_content_length: 0, max_length: 0 } });
      await store.enqueue(newRequest({}, { maxLength: 999, maxContentLength: 9999 }), 10);
      await store.enqueue(newRequest({}, { maxLength: 81 }), 10);
      await store.enqueue(newRequest({}, { maxLength: 81 }), 10);
      await expect(pop(store)).resolves.toEqual({ skipped: { model: 1, max_content_length: 1, max_length: 2 } });
      const other = { model: 'other', maxLength: 9999, maxContentLength: 99999 };
      expect(await popId(store, other)).not.toBeNull();
      await expect(pop(store)).resolves.toEqual({ skipped: { model: 0, max_content_length: 1, max_length: 2 } });
    });

    it('makes a new offer\'s line from a whole queue read in several chunks, counting each request once', async () => {
      // 1,401 requests of 3 slots: 4,203 members, read 2,000 at a time; requests straddle the chunk boundaries.
      for (let i = 0; i < 1_401; i++) await store.enqueue(newRequest({ n: 3 }, { maxLength: i % 3 === 0 ? 20 : 200, maxContentLength: i % 3 === 1 ? 9999 : 100 }), 10_000);
      await expect(pop(store, { model: 'nerys', maxLength: 10, maxContentLength: 1024 })).resolves.toEqual({ skipped: { model: 0, max_content_length: 467, max_length: 934 } });
      const servable = { model: 'nerys', maxLength: 20, maxContentLength: 1024 };
      const first = started(await pop(store, servable));
      await expect(store.findStanding(first.requestId, [servable])).resolves.toMatchObject({ ahead: [0], position: 0 });
      const last = `r${nextId - 3}`;
      await expect(store.findStanding(last, [servable])).resolves.toMatchObject({ ahead: [3 * 467 - 1 - 3] });
      // (1,401 queued one at a time: about 0.3 s alone, several seconds on a loaded machine.)
    }, 30_000);

    it('queues, serves and cancels a request of 9,000 generations (more members than one Lua unpack takes)', async () => {
      await pop(store);
      const big = newRequest({ n: 9_000 });
      const after = newRequest();
      await store.enqueue(big, 10);
      await store.enqueue(after, 10);
      expect(redis.server.cli('ZCARD', '{kc}:gen:line:nerys|80|1024')).toBe('9001');
      expect(await popId(store)).toBe(big.id);
      await expect(store.findStanding(after.id, [OFFER])).resolves.toMatchObject({ ahead: [8_999] });
      await expect(store.cancel(big.id, 3_000)).resolves.toMatchObject({ waiting: 0, processing: 1 });
      await expect(store.findStanding(after.id, [OFFER])).resolves.toMatchObject({ ahead: [0] });
    });

    it('answers the slots ahead in each offer\'s line, and the fewest', async () => {
      const small = { model: 'nerys', maxLength: 40, maxContentLength: 1024 };
      await store.enqueue(newRequest({ n: 3 }), 10);
      await store.enqueue(newRequest({ n: 2 }, { maxLength: 40 }), 10);
      await store.enqueue(newRequest({ n: 4 }, { maxLength: 80 }), 10);
      const mine = newRequest({ n: 2 }, { maxLength: 30 });
      await store.enqueue(mine, 10);
      // Before any pop there is no line: the whole queue's figure.
      await expect(store.findStanding(mine.id, [OFFER, small])).resolves.toMatchObject({ ahead: [undefined, undefined], position: 9 });
      await pop(store, small);
      await pop(store, OFFER);
      const standing = await store.findStanding(mine.id, [OFFER, small, { model: 'x', maxLength: 99, maxContentLength: 9999 }]);
      expect(standing?.ahead).toEqual([7, 1, undefined]);
      expect(standing?.position).toBe(1);
      expect(standing?.request.waiting).toBe(2);
    });

    it('hands out a put-back slot first, and a slot never twice among several instances popping at once', async () => {
      const requests = Array.from({ length: 20 }, () => newRequest({ n: 3 }));
      for (const r of requests) await store.enqueue(r, 100);
      const others = await Promise.all([redis.connect(), redis.connect()]);
      const stores = [store, ...others.map((c) => new RedisGenerationStore(c))];
      const taken = await Promise.all(Array.from({ length: 70 }, (_, i) => pop(stores[i % 3])));
      const startedOnes = taken.filter((t): t is StartedGeneration => 'requestId' in t);
      expect(startedOnes).toHaveLength(60);
      const perRequest = new Map<string, number>();
      for (const t of startedOnes) perRequest.set(t.requestId, (perRequest.get(t.requestId) ?? 0) + 1);
      expect([...perRequest.values()].every((count) => count === 3)).toBe(true);
      expect(new Set(startedOnes.map((t) => t.generationId)).size).toBe(60);
    });

    it('hands the worker its payload: params, prompt, n 1, and the deadline rule', async () => {
      await store.enqueue(newRequest({ params: { temperature: 0.5, max_length: 40 } }, { maxLength: 40 }), 10);
      const taken = started(await pop(store, OFFER, [], 5_000, 's', { minMs: 1_000, msPerToken: 100.5, maxMs: 10_000 }));
      expect(taken.payload).toEqual({ temperature: 0.5, max_length: 40, prompt: expect.stringMatching(/^prompt of r/), n: 1 });
      expect(taken.deadline).toBe(5_000 + 40 * 100.5);
      await expect(store.findGeneration(taken.generationId)).resolves.toEqual({
        id: taken.generationId,
        requestId: taken.requestId,
        serverId: 's',
        startedAt: 5_000,
        deadline: 9_020,
        state: 'processing',
      });
    });

    it('keeps at most the line limit, dropping the least recently popped, and forgets lines of inactive offers', async () => {
      const limited = new RedisGenerationStore(connection, { maxOfferLines: 2 });
      await limited.enqueue(newRequest({}, { maxLength: 500 }), 10);
      const offers = [1, 2, 3].map((i) => ({ model: 'nerys', maxLength: i, maxContentLength: 1024 }));
      for (const offer of offers) await expect(pop(limited, offer)).resolves.toEqual({ skipped: { model: 0, max_content_length: 0, max_length: 1 } });
      expect(redis.server.cli('ZCARD', '{kc}:gen:offers')).toBe('2');
      expect(redis.server.cli('EXISTS', '{kc}:gen:skip:nerys|1|1024')).toBe('0');
      await limited.retainOffers([offers[2]]);
      expect(redis.server.cli('ZRANGE', '{kc}:gen:offers', '0', '-1')).toBe('nerys|3|1024');
      expect(redis.server.cli('EXISTS', '{kc}:gen:skip:nerys|2|1024')).toBe('0');
    });
  });

  describe('submit', () => {
    it('takes the text and credits usage, contribution and the server job in one step, once', async () => {
      const servers = new RedisServerRepository(connection);
      expect(redis.server.cli('ZSCORE', '{kc}:servers:unused', 'server-1')).toBe('0');
      const request = newRequest({ n: 2 });
      await store.enqueue(request, 10);
      const taken = started(await pop(store, OFFER, [], 2_000, 'server-1'));
      const submission = { generationId: taken.generationId, text: 'once upon', now: 3_500, tokens: 12, provenServerIds: PROVEN };
      const outcomes = await Promise.all([store.submit(submission), new RedisGenerationStore(await redis.connect()).submit(submission)]);
      expect(outcomes.map((o) => o.outcome).sort()).toEqual(['accepted', 'already-submitted']);
      const accepted = outcomes.find((o) => o.outcome === 'accepted');
      await expect(store.findRequest(request.id)).resolves.toMatchObject({ generations: ['once upon'], waiting: 1, processing: 0, done: false, lastActivityAt: 3_500 });
      expect(accepted).toEqual({ outcome: 'accepted', request: { id: request.id, createdAt: request.now, cancelled: false, done: false }, completedRequest: false });
      await expect(store.findGeneration(taken.generationId)).resolves.toMatchObject({ id: taken.generationId, state: 'submitted', serverId: 'server-1' });
      await expect(new RedisUserRepository(connection).findByUsername('alice')).resolves.toEqual({ username: 'alice', usage: 12, contributions: 0 });
      await expect(new RedisUserRepository(connection).findByUsername('bob')).resolves.toEqual({ username: 'bob', usage: 0, contributions: 12 });
      await expect(servers.findById('server-1')).resolves.toMatchObject({ tokensGenerated: 12, requestsFulfilled: 1, recentJobs: [{ tokens: 12, seconds: 1.5 }] });
      expect(redis.server.cli('ZSCORE', '{kc}:servers:unused', 'server-1')).toBe('');
      await expect(store.submit({ ...submission, generationId: 'nope' })).resolves.toEqual({ outcome: 'unknown' });
    });

    it('takes a late text of an overdue attempt: the redo is superseded and refused later', async () => {
      const request = newRequest();
      await store.enqueue(request, 10);
      const first = started(await pop(store));
      await expect(store.restartOverdue(first.deadline)).resolves.toBe(1);
      await expect(store.findRequest(request.id)).resolves.toMatchObject({ waiting: 1, processing: 0, restarted: 1 });
      await expect(store.restartOverdue(first.deadline)).resolves.toBe(0);
      const redo = started(await pop(store, OFFER, [], 10_000));
      const late = await store.submit({ generationId: first.generationId, text: 'late', now: 11_000, tokens: 1, provenServerIds: PROVEN });
      expect(late).toMatchObject({ outcome: 'accepted', completedRequest: true, request: { done: true } });
      await expect(store.findRequest(request.id)).resolves.toMatchObject({ generations: ['late'] });
      await expect(store.findGeneration(redo.generationId)).resolves.toMatchObject({ state: 'superseded' });
      await expect(store.submit({ generationId: redo.generationId, text: 'x', now: 12_000, tokens: 1, provenServerIds: PROVEN })).resolves.toEqual({
        outcome: 'slot-complete',
      });
      await expect(store.submit({ generationId: first.generationId, text: 'x', now: 12_000, tokens: 1, provenServerIds: PROVEN })).resolves.toEqual({
        outcome: 'already-submitted',
      });
      await expect(new RedisUserRepository(connection).findByUsername('alice')).resolves.toMatchObject({ usage: 1 });
    });

    it('takes a late text whose slot is waiting again: the slot leaves the line', async () => {
      const request = newRequest();
      await store.enqueue(request, 10);
      const first = started(await pop(store));
      await store.restartOverdue(first.deadline);
      await store.submit({ generationId: first.generationId, text: 'late', now: 9_000, tokens: 1, provenServerIds: PROVEN });
      await expect(store.findRequest(request.id)).resolves.toMatchObject({ waiting: 0, done: true, restarted: 1 });
      await expect(pop(store)).resolves.toEqual({ skipped: { model: 0, max_content_length: 0, max_length: 0 } });
    });
  });

  describe('one script per submit (issue 13)', () => {
    /** The commands clients sent while `run` ran (not those inside scripts): each as its name, in lower case. */
    async function clientCommandsOf(run: () => Promise<void>): Promise<string[]> {
      return (await monitored(connection, run)).filter((command) => !command.inScript).map((command) => command.args[0].toLowerCase());
    }

    it('takes a proven submit, with its proof, the owner read and the credits, in one FCALL; an unproven one in one too, changing nothing', async () => {
      await store.enqueue(newRequest({ n: 2 }), 10);
      const first = started(await pop(store));
      const second = started(await pop(store));
      // The library is loaded (a first call may need a FUNCTION LOAD).
      await store.submit({ generationId: first.generationId, text: 'one', now: 3_000, tokens: 1, provenServerIds: ['server-1'] });
      let outcome: unknown;
      const proven = await clientCommandsOf(async () => {
        outcome = await store.submit({ generationId: second.generationId, text: 'two', now: 3_000, tokens: 2, provenServerIds: ['server-a', 'server-1'] });
      });
      expect(outcome).toMatchObject({ outcome: 'accepted', completedRequest: true });
      expect(proven).toEqual(['fcall']);
      await store.enqueue(newRequest(), 10);
      const third = started(await pop(store));
      const unproven = await clientCommandsOf(async () => {
        outcome = await store.submit({ generationId: third.generationId, text: 'x', now: 3_000, tokens: 1, provenServerIds: ['server-a'] });
      });
      expect(outcome).toEqual({ outcome: 'unproven', serverId: 'server-1' });
      expect(unproven).toEqual(['fcall']);
      await expect(store.findGeneration(third.generationId)).resolves.toMatchObject({ state: 'processing' });
      await expect(new RedisUserRepository(connection).findByUsername('bob')).resolves.toMatchObject({ contributions: 3 });
    });
  });

  describe("the pop's check-in", () => {
    const SETTINGS = { GENERATION_TIMEOUT_MIN_SECONDS: 1, GENERATION_TIMEOUT_SAFETY_FACTOR: 3, PROMPT_EXPIRY_SECONDS: 600 };
    const popFor = (now: number, update: { owner?: string; model?: string; maxContentLength?: number } = {}) =>
      store.popFor({
        name: 'box server-1', provenPasswordHash: 'x', update: { owner: 'bob', model: 'nerys', maxLength: 80, maxContentLength: 1024, lastSeenAt: now, ...update },
        models: [update.model ?? 'nerys'], priorityUsernames: [], generationId: `g${nextGeneration++}`, deadline: SETTINGS,
      });
    const stored = () => connection.run((client) => client.hgetall('{kc}:server:server-1'));
    const scoreIn = (set: string) => connection.run((client) => client.zscore(`{kc}:servers:${set}`, 'server-1'));
    const G = SEEN_GRANULARITY_MS;

    it('writes only the last-seen time when nothing else changed, and the fields that changed otherwise', async () => {
      const created = await stored();
      expect(created).toMatchObject({ lastSeenAt: '0', seenAt: '0' });
      await popFor(5_000);
      expect(await stored()).toEqual({ ...created, lastSeenAt: '5000' });
      await popFor(6_000, { owner: 'carol', maxContentLength: 2048 });
      expect(await stored()).toEqual({ ...created, lastSeenAt: '6000', owner: 'carol', maxContentLength: '2048' });
      await popFor(G + 7_000, { owner: 'carol', model: 'other', maxContentLength: 2048 });
      expect(await stored()).toEqual({ ...created, lastSeenAt: `${G + 7_000}`, seenAt: `${G}`, owner: 'carol', model: 'other', maxContentLength: '2048' });
      expect([await scoreIn('seen'), await scoreIn('unused')]).toEqual([`${G}`, `${G}`]);
      // A wrong hash: nothing written.
      await expect(store.popFor({
        name: 'box server-1', provenPasswordHash: 'y', update: { owner: 'bob', model: 'nerys', maxLength: 80, maxContentLength: 1024, lastSeenAt: 3 * G },
        models: ['nerys'], priorityUsernames: [], generationId: 'never', deadline: SETTINGS,
      })).resolves.toBeUndefined();
      expect(await stored()).toEqual({ ...created, lastSeenAt: `${G + 7_000}`, seenAt: `${G}`, owner: 'carol', model: 'other', maxContentLength: '2048' });
      expect(await scoreIn('seen')).toBe(`${G}`);
    });

    it('moves the server in the seen sets only when its last-seen time enters another SEEN_GRANULARITY_MS; findSeenSince and the forgetting stay exact', async () => {
      const servers = new RedisServerRepository(connection);
      /** The pop at `now`: the seen sets' commands it made, and the servers seen after now − 1 and after now. */
      const popAt = async (now: number): Promise<{ moves: string[]; seenJustBefore: string[]; seenAfter: string[] }> => {
        const commands = await monitored(connection, () => popFor(now));
        const ids = async (since: number) => (await servers.findSeenSince(since)).filter((s) => s.id === 'server-1').map((s) => `${s.id} ${s.lastSeenAt}`);
        return { moves: commands.filter((c) => c.args[0].toLowerCase() === 'zadd' && c.args[1].startsWith('{kc}:servers:')).map((c) => `${c.args[1]} ${c.args.slice(-2).join(' ')}`), seenJustBefore: await ids(now - 1), seenAfter: await ids(now) };
      };
      const moved = (score: number) => [`{kc}:servers:seen ${score} server-1`, `{kc}:servers:unused ${score} server-1`];
      // Created at 0: the pops before G share its score, and make no ZADD; findSeenSince still finds each by its last-seen time.
      for (const now of [1, G - 2, G - 1]) expect(await popAt(now)).toEqual({ moves: [], seenJustBefore: [`server-1 ${now}`], seenAfter: [] });
      expect(await popAt(G)).toEqual({ moves: moved(G), seenJustBefore: [`server-1 ${G}`], seenAfter: [] });
      expect(await popAt(2 * G - 1)).toEqual({ moves: [], seenJustBefore: [`server-1 ${2 * G - 1}`], seenAfter: [] });
      // A last-seen time that goes back (another instance's clock): within the score's 10 s nothing moves, before them it does.
      expect(await popAt(G + 5)).toEqual({ moves: [], seenJustBefore: [`server-1 ${G + 5}`], seenAfter: [] });
      expect(await popAt(G - 3)).toEqual({ moves: moved(0), seenJustBefore: [`server-1 ${G - 3}`], seenAfter: [] });
      expect([await scoreIn('seen'), await scoreIn('unused'), (await stored()).seenAt]).toEqual(['0', '0', '0']);
      await popFor(G - 1);
      // Its score (0) is at or before both times: the forgetting reads it, and keeps it by its last-seen time.
      expect(await servers.deleteUnusedSeenBefore(G - 2)).not.toContain('box server-1');
      expect(await servers.deleteUnusedSeenBefore(G - 1)).toContain('box server-1');
    });

    it('moves a server stored by an older build (exact scores, no seenAt) on its first pop, and finds it exactly before and after', async () => {
      const servers = new RedisServerRepository(connection);
      const older = G + 4_321;
      redis.server.cli('HSET', '{kc}:server:server-1', 'lastSeenAt', `${older}`);
      redis.server.cli('HDEL', '{kc}:server:server-1', 'seenAt');
      redis.server.cli('ZADD', '{kc}:servers:seen', `${older}`, 'server-1');
      redis.server.cli('ZADD', '{kc}:servers:unused', `${older}`, 'server-1');
      const seenAfter = async (since: number) => (await servers.findSeenSince(since)).filter((s) => s.id === 'server-1').map((s) => s.lastSeenAt);
      expect([await seenAfter(older - 1), await seenAfter(older)]).toEqual([[older], []]);
      await popFor(older + 1);
      expect([await scoreIn('seen'), await scoreIn('unused'), (await stored()).seenAt]).toEqual([`${G}`, `${G}`, `${G}`]);
      expect([await seenAfter(older), await seenAfter(older + 1)]).toEqual([[older + 1], []]);
    });
  });

  describe("the server ids a store learns from its pops (the check-in's id hint)", () => {
    const SETTINGS = { GENERATION_TIMEOUT_MIN_SECONDS: 1, GENERATION_TIMEOUT_SAFETY_FACTOR: 3, PROMPT_EXPIRY_SECONDS: 600 };
    const popAs = (popping: RedisGenerationStore, name: string, now = 5_000) =>
      popping.popFor({
        name, provenPasswordHash: 'x', update: { owner: 'bob', model: 'nerys', maxLength: 80, maxContentLength: 1024, lastSeenAt: now },
        models: ['nerys'], priorityUsernames: [], generationId: `g${nextGeneration++}`, deadline: SETTINGS,
      });
    /** The pop's answer (the server's id, or none), and the commands of its check-in on the servers' keys (each as its name and key). */
    const checkIn = async (popping: RedisGenerationStore, name: string, now = 5_000) => {
      let popped: Awaited<ReturnType<typeof popAs>>;
      const commands = await monitored(connection, async () => (popped = await popAs(popping, name, now)));
      const serverCommands = commands.filter((c) => c.inScript && c.args[1].startsWith('{kc}:server')).map((c) => `${c.args[0].toLowerCase()} ${c.args[1]}`);
      return { id: popped?.server.id, commands: serverCommands };
    };
    const servers = () => new RedisServerRepository(connection);

    it("reads the server's hash by the id its last pop answered: no look-up of the name", async () => {
      expect(await checkIn(store, 'box server-1')).toEqual({ id: 'server-1', commands: ['hget {kc}:servers:id-by-name', 'hmget {kc}:server:server-1', 'hset {kc}:server:server-1'] });
      expect(await checkIn(store, 'box server-1', 6_000)).toEqual({ id: 'server-1', commands: ['hmget {kc}:server:server-1', 'hset {kc}:server:server-1'] });
      // Per store (instance): another learns it from its own first pop.
      const other = new RedisGenerationStore(connection);
      expect((await checkIn(other, 'box server-1', 7_000)).commands).toContain('hget {kc}:servers:id-by-name');
      // The password hash is checked all the same.
      await expect(store.popFor({
        name: 'box server-1', provenPasswordHash: 'y', update: { owner: 'bob', model: 'nerys', maxLength: 80, maxContentLength: 1024, lastSeenAt: 8_000 },
        models: ['nerys'], priorityUsernames: [], generationId: 'never', deadline: SETTINGS,
      })).resolves.toBeUndefined();
      await expect(servers().findById('server-1')).resolves.toMatchObject({ lastSeenAt: 7_000 });
    });

    it('pops as the server that holds the name now when the one it learnt was deleted and the name registered again', async () => {
      expect((await checkIn(store, 'box server-1')).id).toBe('server-1');
      await servers().deleteById('server-1');
      await addServer(connection, 'server-new', 'box server-1');
      await store.enqueue(newRequest(), 10);
      const popped = await popAs(store, 'box server-1', 6_000);
      expect(popped).toMatchObject({ server: { id: 'server-new', name: 'box server-1', lastSeenAt: 0 }, started: { generationId: expect.any(String) } });
      await expect(store.findGeneration((popped as { started: StartedGeneration }).started.generationId)).resolves.toMatchObject({ serverId: 'server-new' });
      // And learns the new id.
      expect(await checkIn(store, 'box server-1', 7_000)).toEqual({ id: 'server-new', commands: ['hmget {kc}:server:server-new', 'hset {kc}:server:server-new'] });
    });

    it("never checks in as the server a wrong id names, even one with the same password hash: a hash whose name is another's is passed over", async () => {
      const other = new RedisGenerationStore(connection);
      for (const popping of [store, other]) expect((await checkIn(popping, 'box server-1')).id).toBe('server-1');
      await servers().deleteById('server-1');
      // Another server now has the id both stores learnt for the name (and the same password hash): not the name's.
      await addServer(connection, 'server-1', 'impostor');
      const impostor = await servers().findById('server-1');
      // The name free: nothing to check in.
      expect(await checkIn(other, 'box server-1', 6_000)).toEqual({ id: undefined, commands: ['hmget {kc}:server:server-1', 'hget {kc}:servers:id-by-name'] });
      // The name registered again: its new server.
      await addServer(connection, 'server-new', 'box server-1');
      expect(await checkIn(store, 'box server-1', 7_000)).toEqual({
        id: 'server-new',
        commands: ['hmget {kc}:server:server-1', 'hget {kc}:servers:id-by-name', 'hmget {kc}:server:server-new', 'hset {kc}:server:server-new'],
      });
      await expect(servers().findById('server-1')).resolves.toEqual(impostor);
      await expect(servers().findById('server-new')).resolves.toMatchObject({ lastSeenAt: 7_000 });
    });

    it('remembers at most serverIdHints names, forgetting the one remembered first', async () => {
      const small = new RedisGenerationStore(connection, { serverIdHints: 2 });
      const looksUp = async (name: string) => (await checkIn(small, name)).commands.includes('hget {kc}:servers:id-by-name');
      expect([await looksUp('box server-1'), await looksUp('box server-a'), await looksUp('box server-b')]).toEqual([true, true, true]);
      // server-1 was forgotten for server-b; remembering it again forgets server-a, remembered first of the two left.
      expect([await looksUp('box server-b'), await looksUp('box server-1'), await looksUp('box server-b'), await looksUp('box server-a')]).toEqual([false, true, false, true]);
    });
  });

  describe("the deadline from the server's job sums", () => {
    const SETTINGS = { GENERATION_TIMEOUT_MIN_SECONDS: 1, GENERATION_TIMEOUT_SAFETY_FACTOR: 3, PROMPT_EXPIRY_SECONDS: 600 };
    const popFor = (now: number) =>
      store.popFor({
        name: 'box server-1', provenPasswordHash: 'x', update: { owner: 'bob', model: 'nerys', maxLength: 80, maxContentLength: 1024, lastSeenAt: now },
        models: ['nerys'], priorityUsernames: [], generationId: `g${nextGeneration++}`, deadline: SETTINGS,
      });

    it('works them out from the list for a server stored before they were kept, exactly as tokensPerSecond, and keeps them from then on', async () => {
      const jobs = Array.from({ length: PERFORMANCE_WINDOW }, (_, i) => ({ tokens: 7 + i, seconds: 1.234 + i / 3 }));
      const servers = new RedisServerRepository(connection);
      for (const job of jobs) await servers.addJob('server-1', job);
      redis.server.cli('HDEL', '{kc}:server:server-1', 'jobTokens', 'jobMs');
      await store.enqueue(newRequest({ n: 2 }, { maxLength: 77 }), 10);
      const popped = await popFor(50_000);
      const server = (await servers.findById('server-1')) as KoboldServer;
      expect(popped && 'started' in popped && popped.started.deadline).toBe(deadlineOf(deadlineRuleFor(tokensPerSecond(server), SETTINGS), 77, 50_000));
      const sums = jobSums(server);
      expect(sums.stored).toEqual(sums.ofList);
      // The submit keeps the sums: the next pop's deadline follows the window with the new job in it.
      const submitted = await store.submit({ generationId: (popped as { started: StartedGeneration }).started.generationId, text: 't', now: 52_345, tokens: 40, provenServerIds: ['server-1'] });
      expect(submitted).toMatchObject({ outcome: 'accepted' });
      const after = (await servers.findById('server-1')) as KoboldServer;
      expect(after.recentJobs[PERFORMANCE_WINDOW - 1]).toEqual({ tokens: 40, seconds: 2.345 });
      const next = await popFor(60_000);
      expect(next && 'started' in next && next.started.deadline).toBe(deadlineOf(deadlineRuleFor(tokensPerSecond(after), SETTINGS), 77, 60_000));
    });
  });

  describe("a submit's job sums", () => {
    it('keeps them exact as jobs come and leave the window, whatever the sign and size of their change', async () => {
      const servers = new RedisServerRepository(connection);
      await store.enqueue(newRequest({ n: PERFORMANCE_WINDOW + 6 }), 10);
      // Every third job long and of many tokens, the others short, each a little shorter and of fewer tokens than
      // the one before: as the window moves, each sum changes by more than 1,024 up or down, or by 20 down.
      for (let i = 0; i < PERFORMANCE_WINDOW + 6; i++) {
        const taken = started(await pop(store));
        const long = i % 3 === 0;
        await expect(store.submit({ generationId: taken.generationId, text: 't', now: 2_000 + (long ? 3_000 + 7 * i : 500 - i), tokens: long ? 2_000 + i : 50 - i, provenServerIds: PROVEN })).resolves.toMatchObject({ outcome: 'accepted' });
      }
      const server = (await servers.findById('server-1')) as KoboldServer;
      expect(server.recentJobs).toHaveLength(PERFORMANCE_WINDOW);
      const sums = jobSums(server);
      expect(sums.stored).toEqual(sums.ofList);
    });
  });

  describe("a submit's credit of the server", () => {
    const stored = (fields: string[]) => connection.run((client) => client.hmget('{kc}:server:server-1', ...fields));

    it('credits a server stored before the job sums were kept: the sums from its list, the totals by the job, in the same step', async () => {
      const servers = new RedisServerRepository(connection);
      for (let i = 0; i < PERFORMANCE_WINDOW; i++) await servers.addJob('server-1', { tokens: 7 + i, seconds: 1.234 + i / 3 });
      await store.enqueue(newRequest(), 10);
      const taken = started(await pop(store));
      redis.server.cli('HDEL', '{kc}:server:server-1', 'jobTokens', 'jobMs');
      await expect(store.submit({ generationId: taken.generationId, text: 't', now: 4_321, tokens: 40, provenServerIds: PROVEN })).resolves.toMatchObject({ outcome: 'accepted' });
      const server = (await servers.findById('server-1')) as KoboldServer;
      expect(server).toMatchObject({ tokensGenerated: 40 + (7 + 7 + PERFORMANCE_WINDOW - 1) * PERFORMANCE_WINDOW / 2, requestsFulfilled: PERFORMANCE_WINDOW + 1 });
      expect(server.recentJobs).toHaveLength(PERFORMANCE_WINDOW);
      expect(server.recentJobs[PERFORMANCE_WINDOW - 1]).toEqual({ tokens: 40, seconds: 2.321 });
      const sums = jobSums(server);
      expect(sums.stored).toEqual(sums.ofList);
    });

    it('credits totals past 2^31 exactly, each written as its decimal', async () => {
      await connection.run((client) => client.hset('{kc}:server:server-1', 'tokensGenerated', '123456789012345', 'requestsFulfilled', '4294967303'));
      await store.enqueue(newRequest(), 10);
      const taken = started(await pop(store));
      await store.submit({ generationId: taken.generationId, text: 't', now: 3_000, tokens: 80, provenServerIds: PROVEN });
      await expect(stored(['tokensGenerated', 'requestsFulfilled'])).resolves.toEqual(['123456789012425', '4294967304']);
      await expect(new RedisServerRepository(connection).findById('server-1')).resolves.toMatchObject({ tokensGenerated: 123_456_789_012_425, requestsFulfilled: 4_294_967_304 });
    });

    it('credits each of concurrent submits from several instances once, past the window', async () => {
      const count = PERFORMANCE_WINDOW + 4;
      await store.enqueue(newRequest({ n: count }), 10);
      const generations: StartedGeneration[] = [];
      for (let i = 0; i < count; i++) generations.push(started(await pop(store)));
      const stores = [store, new RedisGenerationStore(await redis.connect()), new RedisGenerationStore(await redis.connect())];
      // Each generation submitted by every instance at once, with its own tokens and time.
      const outcomes = await Promise.all(
        generations.flatMap((g, i) => stores.map((s) => s.submit({ generationId: g.generationId, text: 't', now: 3_000 + 37 * i, tokens: 100 + i, provenServerIds: PROVEN }))),
      );
      expect(outcomes.filter((o) => o.outcome === 'accepted')).toHaveLength(count);
      const server = (await new RedisServerRepository(connection).findById('server-1')) as KoboldServer;
      expect(server).toMatchObject({ tokensGenerated: count * 100 + (count * (count - 1)) / 2, requestsFulfilled: count });
      expect(server.recentJobs).toHaveLength(PERFORMANCE_WINDOW);
      const sums = jobSums(server);
      expect(sums.stored).toEqual(sums.ofList);
      expect(redis.server.cli('ZCARD', '{kc}:servers:unused')).toBe('2');
      await expect(new RedisUserRepository(connection).findByUsername('bob')).resolves.toMatchObject({ contributions: server.tokensGenerated });
    });
  });

  describe('authors and give-ups', () => {
    it('keeps each text\'s author in the request hash beside the text, the model in the generation\'s hash', async () => {
      const request = newRequest({ n: 2 });
      await store.enqueue(request, 10);
      const a = started(await pop(store, OFFER, [], 2_000, 'server-a'));
      const b = started(await pop(store, { ...OFFER, model: 'other' }, [], 2_000, 'server-b'));
      await store.submit({ generationId: b.generationId, text: 'B', now: 3_000, tokens: 1, provenServerIds: PROVEN });
      await store.submit({ generationId: a.generationId, text: 'A', now: 3_000, tokens: 1, provenServerIds: PROVEN });
      const key = `{kc}:gen:req:${request.id}`;
      await expect(connection.run((client) => client.hmget(key, 'nt', 't1', 'w1', 't2', 'w2'))).resolves.toEqual(['2', 'B', 'server-b\nother', 'A', 'server-a\nnerys']);
      await expect(connection.run((client) => client.hget(`{kc}:gen:g:${a.generationId}`, 'm'))).resolves.toBe('nerys');
      await expect(store.findRequest(request.id)).resolves.toMatchObject({
        generations: ['B', 'A'],
        generationAuthors: [
          { serverId: 'server-b', model: 'other' },
          { serverId: 'server-a', model: 'nerys' },
        ],
      });
    });

    it('reads back 10,000 texts (MAX_N at most) with their authors: more fields than one Lua unpack takes', async () => {
      const request = newRequest({ n: 10_000 });
      await store.enqueue(request, 10);
      // Written straight into the layout: 10,000 submits, each answering every text so far, would take minutes.
      // A thousand texts a command: one HSET of all 40,000 values once outlasted the client's 1 s command timeout on a loaded machine.
      for (let first = 1; first <= 10_000; first += 1_000) {
        const fields: string[] = [];
        for (let k = first; k < first + 1_000; k++) fields.push(`t${k}`, `text ${k}`, `w${k}`, `server-${k}\nm`);
        await connection.run((client) => client.hset(`{kc}:gen:req:${request.id}`, ...fields));
      }
      await connection.run((client) => client.hset(`{kc}:gen:req:${request.id}`, 'nt', '10000'));
      const record = await store.findRequest(request.id);
      expect(record?.generations).toHaveLength(10_000);
      expect(record?.generationAuthors).toHaveLength(10_000);
      expect([record?.generations[0], record?.generations[4_321], record?.generations[9_999]]).toEqual(['text 1', 'text 4322', 'text 10000']);
      expect(record?.generationAuthors[4_321]).toEqual({ serverId: 'server-4322', model: 'm' });
    });

    it('a give-up turns the slot\'s field back to waiting, puts the slot back in every line and takes the attempt out of the deadlines', async () => {
      const request = newRequest({ n: 2 });
      await store.enqueue(request, 10);
      await pop(store, { ...OFFER, model: 'other' });
      const given = started(await pop(store));
      const key = `{kc}:gen:req:${request.id}`;
      const slot = await connection.run((client) => client.hget(`{kc}:gen:g:${given.generationId}`, 'slot'));
      await expect(store.abandon(given.generationId, 2_500)).resolves.toMatchObject({ outcome: 'put-back' });
      await expect(connection.run((client) => client.hget(key, `s${slot}`))).resolves.toBe('w');
      await expect(connection.run((client) => client.lrange(`${key}:putback`, 0, -1))).resolves.toEqual([slot]);
      await expect(connection.run((client) => client.zscore('{kc}:gen:deadlines', given.generationId))).resolves.toBeNull();
      for (const set of ['whole', 'line:nerys|80|1024', 'line:other|80|1024']) expect(redis.server.cli('ZCARD', `{kc}:gen:${set}`)).toBe('1');
      await expect(store.findGeneration(given.generationId)).resolves.toMatchObject({ state: 'overdue' });
      await expect(store.abandon(given.generationId, 2_600)).resolves.toEqual({ outcome: 'not-in-progress' });
    });
  });

  describe('cancel', () => {
    it('drops the waiting slots, credits the one in progress, and settles once nothing is in progress', async () => {
      const settled: string[] = [];
      store.onSettled((id) => settled.push(id));
      const request = newRequest({ n: 3 });
      await store.enqueue(request, 10);
      const taken = started(await pop(store));
      await expect(store.cancel(request.id, 3_000)).resolves.toMatchObject({ cancelled: true, waiting: 0, processing: 1, done: false, lastActivityAt: 3_000 });
      expect(settled).toEqual([]);
      await expect(pop(store)).resolves.toEqual({ skipped: { model: 0, max_content_length: 0, max_length: 0 } });
      const outcome = await store.submit({ generationId: taken.generationId, text: 't', now: 4_000, tokens: 3, provenServerIds: PROVEN });
      expect(outcome).toMatchObject({ outcome: 'accepted', request: { cancelled: true, done: true } });
      await expect(store.findRequest(request.id)).resolves.toMatchObject({ generations: ['t'] });
      expect(settled).toEqual([request.id]);
      await expect(store.cancel('nope', 1)).resolves.toBeUndefined();
    });

    it('drops an overdue slot of a cancelled request, and settles it', async () => {
      const settled: string[] = [];
      store.onSettled((id) => settled.push(id));
      const request = newRequest({ n: 2 });
      await store.enqueue(request, 10);
      const taken = started(await pop(store));
      await store.cancel(request.id, 2_500);
      await expect(store.restartOverdue(taken.deadline)).resolves.toBe(0);
      await expect(store.findRequest(request.id)).resolves.toMatchObject({ done: true, restarted: 1, waiting: 0 });
      expect(settled).toEqual([request.id]);
    });
  });

  describe('sweeps', () => {
    it('puts each overdue generation back once, with several instances sweeping at once', async () => {
      for (let i = 0; i < 50; i++) await store.enqueue(newRequest(), 100);
      for (let i = 0; i < 50; i++) await pop(store);
      const stores = [store, ...(await Promise.all([redis.connect(), redis.connect()])).map((c) => new RedisGenerationStore(c, { batch: 7 }))];
      const counts = await Promise.all(stores.map((s) => s.restartOverdue(1e12)));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(50);
      expect(redis.server.cli('ZCARD', '{kc}:gen:whole')).toBe('50');
    });

    it('expires the longest idle first, each once among several instances, and leaves no text behind', async () => {
      const ids = await enqueueOnePerMs(store, 40, 1_000);
      const taken = started(await pop(store, OFFER, [], 5_000));
      await store.submit({ generationId: taken.generationId, text: 'secret', now: 5_000, tokens: 1, provenServerIds: PROVEN });
      await expect(store.expireIdle(1_002, 10)).resolves.toEqual([ids[1], ids[2]].map((id) => ({ id, done: false })));
      const stores = [store, ...(await Promise.all([redis.connect(), redis.connect()])).map((c) => new RedisGenerationStore(c, { batch: 4 }))];
      const expired = (await Promise.all(stores.map((s) => s.expireIdle(9_999, Infinity)))).flat();
      expect(expired.map((e) => e.id).sort()).toEqual([ids[0], ...ids.slice(3)].sort());
      expect(expired.find((e) => e.id === ids[0])).toEqual({ id: ids[0], done: true });
      expect(redis.server.cli('KEYS', '{kc}:gen:req:*')).toBe('');
      expect(redis.server.cli('KEYS', '{kc}:gen:g:*')).toBe('');
      for (const key of ['whole', 'deadlines', 'activity', 'ids', 'unfinished:requester', 'user:alice']) expect(redis.server.cli('EXISTS', `{kc}:gen:${key}`)).toBe('0');
      await expect(store.findGeneration(taken.generationId)).resolves.toBeUndefined();
    });

    it('moves a request\'s activity score only when it would lag its last activity by ACTIVITY_INDEX_LAG_MS, and expires by the last activity', async () => {
      const score = (id: string): string => redis.server.cli('ZSCORE', '{kc}:gen:activity', id);
      const lastActivity = (id: string): string => redis.server.cli('HGET', `{kc}:gen:req:${id}`, 'la');
      const x = newRequest({ now: 1_000, n: 2 });
      await store.enqueue(x, 100);
      expect(score(x.id)).toBe('1000');
      const first = started(await pop(store, OFFER, [], 1_000 + ACTIVITY_INDEX_LAG_MS - 1));
      expect([score(x.id), lastActivity(x.id)]).toEqual(['1000', String(1_000 + ACTIVITY_INDEX_LAG_MS - 1)]);
      await store.submit({ generationId: first.generationId, text: 'a', now: 1_000 + ACTIVITY_INDEX_LAG_MS, tokens: 1, provenServerIds: PROVEN });
      expect(score(x.id)).toBe(String(1_000 + ACTIVITY_INDEX_LAG_MS));
      // A clock that went back (instances' clocks differ) moves the score back: it is never after the last activity.
      started(await pop(store, OFFER, [], 500 + ACTIVITY_INDEX_LAG_MS));
      expect(score(x.id)).toBe(String(500 + ACTIVITY_INDEX_LAG_MS));
      // A request stored by an older build (no 'as'): its first activity writes the score.
      const y = newRequest({ now: 2_000 });
      await store.enqueue(y, 100);
      redis.server.cli('HDEL', `{kc}:gen:req:${y.id}`, 'as');
      started(await pop(store, OFFER, [], 2_001));
      expect(score(y.id)).toBe('2001');
      await expect(store.expireIdle(2_001, 10)).resolves.toEqual([{ id: y.id, done: false }]);
    });

    it('corrects the lagging scores it reads, however many, and expires exactly the idle requests, longest idle first', async () => {
      const active = await enqueueOnePerMs(store, 30, 1_000);
      // Popped at 5,000: still scored 1,000 .. 1,029 in the activity set, within the lag.
      for (let i = 0; i < 30; i++) started(await pop(store, OFFER, [], 5_000));
      const idle = [newRequest({ now: 2_000 }), newRequest({ now: 2_500 })];
      for (const request of idle) await store.enqueue(request, 100);
      // Batches of 2: each call reads at most 16 candidates, so this takes several calls.
      const small = new RedisGenerationStore(connection, { batch: 2 });
      await expect(small.expireIdle(4_999, Infinity)).resolves.toEqual(idle.map((r) => ({ id: r.id, done: false })));
      for (const id of active) expect(redis.server.cli('ZSCORE', '{kc}:gen:activity', id)).toBe('5000');
      await expect(small.expireIdle(4_999, Infinity)).resolves.toEqual([]);
      // Equal last activities in the order of the ids.
      await expect(small.expireIdle(5_000, 1)).resolves.toEqual([{ id: [...active].sort()[0], done: false }]);
    });

    it('summarizes the requests held', async () => {
      await store.enqueue(newRequest({ n: 2, now: 500 }, { models: ['a', 'b'] }), 10);
      await store.enqueue(newRequest({ n: 1, now: 700 }), 10);
      await store.enqueue(newRequest({ n: 1, now: 900 }, { models: ['a'] }), 10);
      await pop(store, { model: 'a', maxLength: 80, maxContentLength: 1024 });
      const summary = await store.summarize();
      expect(summary).toEqual({
        waiting: { requests: 3, slots: 3 },
        processingGenerations: 1,
        oldestWaitingSince: 500,
        waitingByModel: new Map([
          ['a', { requests: 2, slots: 2 }],
          ['b', { requests: 1, slots: 1 }],
        ]),
        waitingForAnyModel: { requests: 1, slots: 1 },
        held: 3,
      });
    });
  });

  describe('onSettled across instances', () => {
    it('tells another instance\'s listeners when a request queued with notifyWhenSettled becomes done or expires; its own, of every request', async () => {
      const other = new RedisGenerationStore(await redis.connect());
      const heard: string[] = [];
      const received = new Promise<void>((resolve) =>
        other.onSettled((id) => {
          heard.push(id);
          if (heard.length === 2) resolve();
        }),
      );
      await other.listening();
      const mine: string[] = [];
      store.onSettled((id) => mine.push(id));
      const quiet = newRequest();
      const done = newRequest({ notifyWhenSettled: true });
      const idle = newRequest({ now: 1, notifyWhenSettled: true });
      await store.enqueue(quiet, 10);
      await store.enqueue(done, 10);
      await store.enqueue(idle, 10);
      // Settled first, and never published (messages arrive in order, so it would be heard before the others).
      await store.cancel(quiet.id, 2_000);
      const taken = started(await pop(store));
      await store.submit({ generationId: taken.generationId, text: 't', now: 3_000, tokens: 1, provenServerIds: PROVEN });
      await store.expireIdle(1_500, 10);
      await received;
      expect(heard.sort()).toEqual([done.id, idle.id].sort());
      expect(mine.sort()).toEqual([quiet.id, done.id, idle.id].sort());
    });
  });

  describe('the matching bound of issue 12', () => {
    /** The Redis commands the scripts of `run` made (the pops' own). */
    async function commandsOf(run: () => Promise<void>): Promise<string[][]> {
      return (await monitored(connection, run)).filter((command) => command.inScript).map((command) => command.args);
    }

    /** A command in a comparable form: its name, its key with ids and arrivals replaced, and whether it reads a whole key. */
    function shape(args: string[]): string {
      const [name, key = ''] = args;
      const kind = key.replace(/req:r\d+/, 'req:ID').replace(/g:g\d+/, 'g:ID').replace(/user:user-\d+/, 'user:NAME');
      const unbounded = /^(zrange|lrange)$/i.test(name) && args[3] === '-1';
      return `${name.toLowerCase()} ${kind}${unbounded ? ' (whole key)' : ''}`;
    }

    // Fills 6,000 requests one at a time: 30 s, not 5, on a loaded machine.
    it('reads no queue-sized key whole, and runs the same commands with 40 or 6,000 waiting requests of distinct wishes', async () => {
      const other = { model: 'other', maxLength: 512, maxContentLength: 4096 };
      const fill = async (count: number): Promise<void> => {
        // The lines exist first (made once per offer: O(N), not part of the bound).
        await pop(store, OFFER);
        await pop(store, other);
        for (let i = 0; i < count; i++) {
          // Every request its own models list and lengths; half of them OFFER can serve, all of them `other` can.
          const servable = i % 2 === 0;
          await store.enqueue(
            newRequest({ username: `user-${i}`, requesterKey: `user-${i}`, priority: -i }, { models: [servable ? 'nerys' : `own-${i}`, 'other', `own-${i}-b`], maxLength: 1 + (i % 80), maxContentLength: 1 + (i % 1024) }),
            10,
          );
        }
      };
      const pops = async (): Promise<void> => {
        for (let i = 0; i < 5; i++) started(await pop(store, OFFER, ['owner', 'user-4']));
      };
      await fill(40);
      const few = (await commandsOf(pops)).map(shape);
      await connection.run((client) => client.flushdb());
      await fill(6_000);
      const many = (await commandsOf(pops)).map(shape);
      expect(many).toEqual(few);
      // No key is read whole: every queue-sized set by rank or member, and the lines that hold the popped
      // request are remembered with it ('lo'), so not even the offers set is read.
      expect(many.filter((command) => command.endsWith('(whole key)'))).toEqual([]);
      expect(many.length / 5).toBeLessThanOrEqual(15);
    }, 30_000);
  });

  describe('deferred slots (a pop costs no command per line holding the request)', () => {
    const NERYS_LINE = '{kc}:gen:line:nerys|80|1024';
    const OTHER = { model: 'other', maxLength: 80, maxContentLength: 1024 };
    const OTHER_LINE = '{kc}:gen:line:other|80|1024';
    const count = (key: string): number => Number(redis.server.cli('ZCARD', key));
    const deferred = (): string => redis.server.cli('HVALS', '{kc}:gen:deferred');

    beforeEach(async () => {
      // Both lines exist before anything waits.
      await pop(store, OFFER);
      await pop(store, OTHER);
    });

    it('keeps a taken slot, but the last, in the lines of its request, and still answers exact standings', async () => {
      const first = newRequest({ n: 4 }, { models: ['nerys', 'other'] });
      const behind = newRequest({ n: 2 }, { models: ['nerys', 'other'] });
      await store.enqueue(first, 10);
      await store.enqueue(behind, 10);
      expect(await popId(store, OFFER)).toBe(first.id);
      expect(await popId(store, OTHER)).toBe(first.id);
      // The whole queue lost the two members; the lines kept them, as 2 deferred slots of `first`.
      expect([count('{kc}:gen:whole'), count(NERYS_LINE), count(OTHER_LINE)]).toEqual([4, 6, 6]);
      expect(deferred()).toBe('2');
      await expect(store.findStanding(behind.id, [OFFER, OTHER])).resolves.toMatchObject({ ahead: [2, 2], position: 2 });
      await expect(store.findStanding(first.id, [OFFER, OTHER])).resolves.toMatchObject({ ahead: [0, 0], position: 0, request: { waiting: 2 } });
      expect(await popId(store, OFFER)).toBe(first.id);
      // Its last slot takes all its members out of its lines.
      expect(await popId(store, OTHER)).toBe(first.id);
      expect([count('{kc}:gen:whole'), count(NERYS_LINE), count(OTHER_LINE)]).toEqual([2, 2, 2]);
      expect(redis.server.cli('EXISTS', '{kc}:gen:deferred')).toBe('0');
      await expect(store.findStanding(behind.id, [OFFER, OTHER])).resolves.toMatchObject({ ahead: [0, 0], position: 0 });
    });

    it('counts deferred slots of requests ahead only in the lines of offers that can serve them', async () => {
      const nerysOnly = newRequest({ n: 3 }, { models: ['nerys'] });
      const both = newRequest({ n: 2 }, { models: ['nerys', 'other'] });
      await store.enqueue(nerysOnly, 10);
      await store.enqueue(both, 10);
      expect(await popId(store, OFFER)).toBe(nerysOnly.id);
      expect(await popId(store, OTHER)).toBe(both.id);
      // nerysOnly: 2 waiting + 1 deferred in the nerys line; both: 1 waiting + 1 deferred in both lines.
      expect([count(NERYS_LINE), count(OTHER_LINE)]).toEqual([5, 2]);
      await expect(store.findStanding(both.id, [OFFER, OTHER])).resolves.toMatchObject({ ahead: [2, 0], position: 0 });
      const last = newRequest({ n: 1 }, { models: ['nerys', 'other'] });
      await store.enqueue(last, 10);
      await expect(store.findStanding(last.id, [OFFER, OTHER])).resolves.toMatchObject({ ahead: [3, 1], position: 1 });
    });

    it('takes the other requests\' deferred slots out of their lines past the deferral limit, and all of them when a line is made', async () => {
      const limited = new RedisGenerationStore(connection, { deferredCounts: 1 });
      const [a, b] = [newRequest({ n: 3 }, { models: ['nerys'] }), newRequest({ n: 3 }, { models: ['other'] })];
      await limited.enqueue(a, 10);
      await limited.enqueue(b, 10);
      expect(await popId(limited, OFFER)).toBe(a.id);
      expect([count(NERYS_LINE), count(OTHER_LINE), deferred()]).toEqual([3, 3, '1']);
      // b's deferred slot is the second: a's leaves the nerys line.
      expect(await popId(limited, OTHER)).toBe(b.id);
      expect([count(NERYS_LINE), count(OTHER_LINE), deferred()]).toEqual([2, 3, '1']);
      // A new line: every deferred slot leaves its lines first.
      await pop(limited, { model: 'third', maxLength: 80, maxContentLength: 1024 });
      expect([count(NERYS_LINE), count(OTHER_LINE)]).toEqual([2, 2]);
      expect(redis.server.cli('EXISTS', '{kc}:gen:deferred')).toBe('0');
      await expect(limited.findStanding(b.id, [OTHER])).resolves.toMatchObject({ ahead: [0], request: { waiting: 2 } });
    });

    it('reuses a deferred member for a put-back slot, and keeps deferring through a late text of a put-back slot', async () => {
      const request = newRequest({ n: 3 });
      const behind = newRequest({ n: 1 });
      await store.enqueue(request, 10);
      await store.enqueue(behind, 10);
      const quick = started(await pop(store, OFFER, [], 2_000, 'server-1', { minMs: 1_000, msPerToken: 0, maxMs: 1_000 }));
      started(await pop(store, OFFER, [], 2_000, 'server-1', { minMs: 50_000, msPerToken: 0, maxMs: 50_000 }));
      expect([count(NERYS_LINE), deferred()]).toEqual([4, '2']);
      // The first attempt misses its deadline: its slot waits again, in the member the line kept.
      await expect(store.restartOverdue(quick.deadline)).resolves.toBe(1);
      expect([count('{kc}:gen:whole'), count(NERYS_LINE), deferred()]).toEqual([3, 4, '1']);
      await expect(store.findStanding(behind.id, [OFFER])).resolves.toMatchObject({ ahead: [2] });
      // Its late text takes the put-back slot: one more deferred member, no line changed.
      await expect(store.submit({ generationId: quick.generationId, text: 'late', now: 9_000, tokens: 1, provenServerIds: PROVEN })).resolves.toMatchObject({ outcome: 'accepted' });
      expect([count('{kc}:gen:whole'), count(NERYS_LINE), deferred()]).toEqual([2, 4, '2']);
      await expect(store.findStanding(behind.id, [OFFER])).resolves.toMatchObject({ ahead: [1] });
      // Cancelled, it leaves every line.
      await store.cancel(request.id, 9_500);
      expect([count('{kc}:gen:whole'), count(NERYS_LINE)]).toEqual([1, 1]);
      expect(redis.server.cli('EXISTS', '{kc}:gen:deferred')).toBe('0');
      await expect(store.findStanding(behind.id, [OFFER])).resolves.toMatchObject({ ahead: [0] });
    });
  });

  describe('matches the in-memory PromptQueue exactly', () => {
    const OFFERS: ServerOffer[] = [
      { model: 'a', maxLength: 80, maxContentLength: 1024 },
      { model: 'b', maxLength: 40, maxContentLength: 2048 },
      { model: 'a', maxLength: 120, maxContentLength: 512 },
      { model: 'c', maxLength: 120, maxContentLength: 2048 },
    ];
    const command = fc.oneof(
      fc.record({
        kind: fc.constant('enqueue' as const),
        models: fc.subarray(['a', 'b', 'c']),
        maxLength: fc.constantFrom(40, 80, 120),
        maxContentLength: fc.constantFrom(512, 1024, 2048),
        n: fc.integer({ min: 1, max: 3 }),
        user: fc.integer({ min: 0, max: 3 }),
        priority: fc.constantFrom(0, 1.5, -2),
      }),
      fc.record({ kind: fc.constant('pop' as const), offer: fc.integer({ min: 0, max: 3 }), priority: fc.subarray([0, 1, 2, 3]) }),
      fc.record({ kind: fc.constant('cancel' as const), index: fc.nat() }),
      fc.record({ kind: fc.constant('restart' as const) }),
      fc.record({ kind: fc.constant('standing' as const), index: fc.nat(), offers: fc.subarray([0, 1, 2, 3]) }),
      // The sweep forgetting the lines of offers no active server has (they are made again at their next pop).
      fc.record({ kind: fc.constant('retain' as const), offers: fc.subarray([0, 1, 2, 3]) }),
    );

    // Lines are derived data: dropped (past the line limit, or by the sweep) and made again, they answer the same.
    it.each<[string, { maxOfferLines?: number; deferredCounts?: number }]>([
      ['at most 64 lines', {}],
      ['at most 2 lines in both, so lines are dropped and made again all the time', { maxOfferLines: 2 }],
      ['at most 1 request with deferred slots in both, so they are told to the lines all the time', { deferredCounts: 1 }],
      ['no deferred slots', { deferredCounts: 0 }],
    ])('pops the same requests, skips the same counts and answers the same standings (%s)', async (_label, options) => {
      const store = new RedisGenerationStore(connection, options);
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 30, maxLength: 80, size: 'max' }), async (commands) => {
          await connection.run((client) => client.flushdb());
          const queue = new PromptQueue(options);
          const prompts: WaitingPrompt[] = [];
          const processing: { prompt: WaitingPrompt; generation: ProcessingGeneration }[] = [];
          let step = 0;
          for (const c of commands) {
            step += 1;
            if (c.kind === 'enqueue') {
              const request = newRequest(
                { n: c.n, username: `u${c.user}`, requesterKey: `u${c.user}`, priority: c.priority, now: step },
                { models: c.models, maxLength: c.maxLength, maxContentLength: c.maxContentLength },
              );
              const prompt = new WaitingPrompt({ ...request });
              prompts.push(prompt);
              queue.enqueue(prompt);
              await store.enqueue(request, 1_000);
            } else if (c.kind === 'pop') {
              const offer = OFFERS[c.offer];
              const usernames = c.priority.map((u) => `u${u}`);
              const match = queue.take(offer, step, new Set(usernames));
              const taken = await store.takeNextSlot({
                offer, priorityUsernames: new Set(usernames), serverId: 's', generationId: `g${nextGeneration++}`, deadline: DEADLINE, now: step,
              });
              if (match.prompt) {
                expect('requestId' in taken && taken.requestId).toBe(match.prompt.id);
                const generation: ProcessingGeneration = { id: `m${step}`, promptId: match.prompt.id, serverId: 's', model: offer.model, slot: match.slot, startedAt: step, deadline: step + 1_000, state: 'processing' };
                match.prompt.assign(generation);
                processing.push({ prompt: match.prompt, generation });
              } else {
                expect(taken).toEqual({ skipped: match.skipped });
              }
            } else if (c.kind === 'cancel') {
              if (prompts.length === 0) continue;
              const prompt = prompts[c.index % prompts.length];
              prompt.cancel();
              queue.enqueue(prompt);
              await store.cancel(prompt.id, step);
            } else if (c.kind === 'restart') {
              let put = 0;
              for (const { prompt, generation } of processing.splice(0)) {
                if (prompt.putBackOverdue(generation)) put += 1;
                queue.enqueue(prompt);
              }
              await expect(store.restartOverdue(1e12)).resolves.toBe(put);
            } else if (c.kind === 'retain') {
              const offers = c.offers.map((i) => OFFERS[i]);
              queue.retainOffers(offers);
              await store.retainOffers(offers);
            } else {
              if (prompts.length === 0) continue;
              const prompt = prompts[c.index % prompts.length];
              const offers = c.offers.map((i) => OFFERS[i]);
              const standing = await store.findStanding(prompt.id, offers);
              const expected = queue.standingOf(prompt, offers);
              expect({ ahead: standing?.ahead, position: standing?.position, waiting: standing?.request.waiting }).toEqual({ ...expected, waiting: prompt.waiting });
            }
          }
        }),
        { numRuns: 40 },
      );
    }, 60_000);
  });
});

describe('RedisGenerationStore during an outage', () => {
  const outage = useTestRedis();

  it('answers 503 (SharedStoreUnavailableException) within the command timeout instead of hanging', async () => {
    const store = new RedisGenerationStore(outage.connection);
    await store.enqueue(newRequest(), 10);
    outage.server.pause();
    try {
      await expect(pop(store)).rejects.toBeInstanceOf(SharedStoreUnavailableException);
      await expect(store.findRequest('x')).rejects.toBeInstanceOf(SharedStoreUnavailableException);
    } finally {
      outage.server.resume();
    }
  });
});
