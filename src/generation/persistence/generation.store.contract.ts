import { tokensPerSecond } from '../../servers/domain/kobold-server';
import { deadlineOf, deadlineRuleFor, DeadlineSettings } from '../domain/deadline';
import { ServerOffer, SkippedCounts } from '../domain/prompt-queue';
import { DeadlineRule, GenerationStore, NewRequest, ServerPop, ServerPopOutcome, SlotTake, StartedGeneration } from './generation.store';

/** The name of the server a fixture's addServer adds (`server <id>`), and its password hash. */
export function contractServerName(serverId: string): string {
  return `server ${serverId}`;
}
export const CONTRACT_SERVER_HASH = 'scrypt$test';

/** What the adapter under test credited, read from where it credits (a fake ledger in memory; the Redis users and servers in Redis). */
export interface CreditedTotals {
  /** Tokens used by a username's requests. */
  usage(username: string): Promise<number>;
  /** Tokens a username's servers generated. */
  contributions(username: string): Promise<number>;
  /** Jobs credited to a server: how many, their tokens, their seconds summed. */
  serverJobs(serverId: string): Promise<{ jobs: number; tokens: number; seconds: number }>;
}

/** A fresh, empty store for one test, how to read what it credited, and how to dispose of it. */
export interface GenerationStoreFixture {
  store: GenerationStore;
  credited: CreditedTotals;
  /**
   * Makes a server known to the accounts the store credits and reads owners from, and to the servers a pop
   * checks in (named contractServerName(serverId), with the password hash CONTRACT_SERVER_HASH, model m,
   * max_length 80, max_content_length 1024, last seen at 0, not in maintenance). Called before its first pop.
   */
  addServer(serverId: string, owner: string): Promise<void>;
  /** Its owner puts the server in maintenance, or ends it. */
  setMaintenance(serverId: string, maintenance: boolean): Promise<void>;
  /** The server's owner changes (as on a check-in by another username). */
  changeOwner(serverId: string, owner: string): Promise<void>;
  /** The server is deleted. */
  removeServer(serverId: string): Promise<void>;
  dispose?: () => Promise<void>;
}

/**
 * The behaviour every GenerationStore adapter must have: run it from each adapter's spec with a factory
 * of empty stores (`describeGenerationStoreContract('in memory', async () => ...)`). Time is passed in
 * explicitly; nothing here reads an adapter's internals.
 */
export function describeGenerationStoreContract(adapter: string, create: () => Promise<GenerationStoreFixture>): void {
  describe(`GenerationStore contract: ${adapter}`, () => {
    let fixture: GenerationStoreFixture;
    let store: GenerationStore;
    let nextId = 0;
    let nextGeneration = 0;

    beforeEach(async () => {
      fixture = await create();
      store = fixture.store;
      await fixture.addServer('s1', 'owner');
      await fixture.addServer('s2', 'owner2');
    });
    afterEach(async () => {
      await fixture.dispose?.();
    });

    const OFFER: ServerOffer = { model: 'm', maxLength: 80, maxContentLength: 1024 };
    /** 10 s at least, 50 ms per wished token, at most 600 s. */
    const RULE: DeadlineRule = { minMs: 10_000, msPerToken: 50, maxMs: 600_000 };
    const NONE_SKIPPED: SkippedCounts = { model: 0, max_content_length: 0, max_length: 0 };

    function request(over: Partial<NewRequest> = {}): NewRequest {
      const username = over.username ?? 'alice';
      return {
        id: `r${++nextId}`,
        prompt: 'It was a dark and stormy night',
        params: { temperature: 0.5, max_length: 80 },
        username,
        requesterKey: username,
        wishes: { models: [], maxLength: 80, maxContentLength: 1024 },
        n: 1,
        priority: 0,
        now: 1000,
        ...over,
      };
    }

    async function enqueue(over: Partial<NewRequest> = {}, cap = 100): Promise<NewRequest> {
      const made = request(over);
      await expect(store.enqueue(made, cap)).resolves.toBe('queued');
      return made;
    }

    function take(over: Partial<SlotTake> = {}): Promise<StartedGeneration | { skipped: SkippedCounts }> {
      return store.takeNextSlot({ offer: OFFER, priorityUsernames: new Set(), serverId: 's1', generationId: `g${++nextGeneration}`, deadline: RULE, now: 2000, ...over });
    }

    async function started(over: Partial<SlotTake> = {}): Promise<StartedGeneration> {
      const result = await take(over);
      if ('skipped' in result) throw new Error(`Expected a slot, got skipped ${JSON.stringify(result.skipped)}`);
      return result;
    }

    async function servedOrder(count: number, over: Partial<SlotTake> = {}): Promise<string[]> {
      const order: string[] = [];
      for (let i = 0; i < count; i++) order.push((await started(over)).requestId);
      return order;
    }

    /** A submit proven to be of s1 or s2 (the servers of every test). */
    function submit(generationId: string, now = 5000, tokens = 7, text = `text of ${generationId}`, provenServerIds: readonly string[] = ['s1', 's2']) {
      return store.submit({ generationId, text, now, tokens, provenServerIds });
    }

    /**
     * Listens to onSettled. `atLeast(count)` resolves with every id heard once `count` have been heard
     * (at once in memory; once delivered where delivery is asynchronous, as through Redis pub/sub). A
     * settle that should not have happened shows up as an extra or out-of-order id in that list.
     */
    function settledIds(): { atLeast(count: number): Promise<string[]> } {
      const ids: string[] = [];
      const waiters: { count: number; resolve: (ids: string[]) => void }[] = [];
      store.onSettled((id) => {
        ids.push(id);
        for (const waiter of waiters.filter((w) => ids.length >= w.count)) waiter.resolve([...ids]);
      });
      return {
        atLeast: (count) =>
          new Promise((resolve) => {
            if (ids.length >= count) resolve([...ids]);
            else waiters.push({ count, resolve });
          }),
      };
    }

    describe('enqueue and findRequest', () => {
      it('answers a queued request as a plain record, and undefined for an unknown id', async () => {
        const made = await enqueue({ n: 3, username: 'Anonymous', requesterKey: 'Anonymous@1.2.3.4', wishes: { models: ['a', 'b'], maxLength: 16, maxContentLength: 512 } });
        await expect(store.findRequest(made.id)).resolves.toEqual({
          id: made.id,
          username: 'Anonymous',
          requesterKey: 'Anonymous@1.2.3.4',
          wishes: { models: ['a', 'b'], maxLength: 16, maxContentLength: 512 },
          n: 3,
          createdAt: 1000,
          lastActivityAt: 1000,
          waiting: 3,
          processing: 0,
          restarted: 0,
          cancelled: false,
          generations: [],
          generationAuthors: [],
          done: false,
        });
        await expect(store.findRequest('nope')).resolves.toBeUndefined();
      });

      it('answers copies: changing an answered record changes nothing held', async () => {
        const made = await enqueue({ n: 2 });
        const generation = await started();
        await submit(generation.generationId);
        const record = await store.findRequest(made.id);
        record?.generations.push('forged');
        record?.generationAuthors.push({ serverId: 'forged', model: 'forged' });
        if (record) {
          record.waiting = 99;
          record.generationAuthors[0].serverId = 'forged';
        }
        await expect(store.findRequest(made.id)).resolves.toMatchObject({
          waiting: 1,
          generations: [`text of ${generation.generationId}`],
          generationAuthors: [{ serverId: 's1', model: 'm' }],
        });
      });

      it('caps the unfinished requests per requester, not per username', async () => {
        await enqueue({ username: 'Anonymous', requesterKey: 'Anonymous@a' }, 2);
        await enqueue({ username: 'Anonymous', requesterKey: 'Anonymous@a' }, 2);
        await expect(store.enqueue(request({ username: 'Anonymous', requesterKey: 'Anonymous@a' }), 2)).resolves.toBe('over-limit');
        await enqueue({ username: 'Anonymous', requesterKey: 'Anonymous@b' }, 2);
        await expect(store.countUnfinishedByRequester('Anonymous@a')).resolves.toBe(2);
        await expect(store.countUnfinishedByRequester('Anonymous@b')).resolves.toBe(1);
        await expect(store.countUnfinishedByUsername('Anonymous')).resolves.toBe(3);
        // The refused request was not queued.
        await expect(store.summarize()).resolves.toMatchObject({ held: 3, waiting: { requests: 3, slots: 3 } });
      });

      it('lets a requester in again once one of their requests is done', async () => {
        const first = await enqueue({}, 1);
        await expect(store.enqueue(request(), 1)).resolves.toBe('over-limit');
        const generation = await started();
        expect(generation.requestId).toBe(first.id);
        // In progress still counts.
        await expect(store.enqueue(request(), 1)).resolves.toBe('over-limit');
        await submit(generation.generationId);
        await enqueue({}, 1);
      });

      it('lets exactly `cap` of concurrent enqueues of one requester in', async () => {
        const results = await Promise.all(Array.from({ length: 6 }, () => store.enqueue(request(), 4)));
        expect(results.filter((r) => r === 'queued')).toHaveLength(4);
        await expect(store.countUnfinishedByRequester('alice')).resolves.toBe(4);
      });
    });

    describe('takeNextSlot', () => {
      it('starts a slot: the payload is the params, the prompt and n 1; the request counts it as in progress and as activity', async () => {
        const made = await enqueue({ n: 2 });
        const generation = await started({ now: 3000 });
        expect(generation).toEqual({
          generationId: `g${nextGeneration}`,
          requestId: made.id,
          payload: { temperature: 0.5, max_length: 80, prompt: 'It was a dark and stormy night', n: 1 },
          wishes: made.wishes,
          deadline: 3000 + 10_000,
        });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 1, processing: 1, lastActivityAt: 3000, done: false });
        await expect(store.findGeneration(generation.generationId)).resolves.toEqual({
          id: generation.generationId,
          requestId: made.id,
          serverId: 's1',
          startedAt: 3000,
          deadline: 3000 + 10_000,
          state: 'processing',
        });
        await expect(store.findGeneration('nope')).resolves.toBeUndefined();
      });

      it('sets the deadline by the rule: the minimum, the wished tokens at the server speed, never past the maximum', async () => {
        await enqueue({ wishes: { models: [], maxLength: 16, maxContentLength: 1024 } });
        await enqueue({ wishes: { models: [], maxLength: 80, maxContentLength: 1024 } });
        await enqueue({ wishes: { models: [], maxLength: 80, maxContentLength: 1024 } });
        // 16 tokens × 50 ms = 0.8 s: the 10 s minimum.
        expect((await started({ now: 0 })).deadline).toBe(10_000);
        // 80 tokens × 200 ms = 16 s.
        expect((await started({ now: 500, deadline: { minMs: 10_000, msPerToken: 200, maxMs: 60_000 } })).deadline).toBe(500 + 16_000);
        // 80 tokens × 10 s = 800 s: capped at the maximum.
        expect((await started({ now: 0, deadline: { minMs: 1000, msPerToken: 10_000, maxMs: 60_000 } })).deadline).toBe(60_000);
      });

      it('serves the highest priority first, then the older request', async () => {
        const low = await enqueue({ priority: -5 });
        const older = await enqueue({ priority: 0 });
        const newer = await enqueue({ priority: 0 });
        const high = await enqueue({ priority: 3 });
        await expect(servedOrder(4)).resolves.toEqual([high.id, older.id, newer.id, low.id]);
      });

      it('serves priority usernames before anyone else, the best of theirs first', async () => {
        const high = await enqueue({ username: 'bob', priority: 10 });
        const vip1 = await enqueue({ username: 'vip', priority: -10 });
        const vip2 = await enqueue({ username: 'vip', priority: -1 });
        const other = await enqueue({ username: 'carol', priority: -20 });
        const order = await servedOrder(4, { priorityUsernames: new Set(['vip', 'carol']) });
        expect(order).toEqual([vip2.id, vip1.id, other.id, high.id]);
      });

      it("hands out a request's slots side by side", async () => {
        const a = await enqueue({ n: 3 });
        const b = await enqueue({ n: 1 });
        await expect(servedOrder(4)).resolves.toEqual([a.id, a.id, a.id, b.id]);
      });

      it('serves only what the offer can serve, and otherwise counts the skipped waiting requests by their first reason', async () => {
        await enqueue({ wishes: { models: ['other'], maxLength: 999, maxContentLength: 99_999 } }); // model
        await enqueue({ wishes: { models: [], maxLength: 999, maxContentLength: 4096 } }); // context
        await enqueue({ wishes: { models: ['m'], maxLength: 512, maxContentLength: 1024 } }); // length
        await enqueue({ wishes: { models: [], maxLength: 512, maxContentLength: 1024 }, n: 3 }); // length (counted once)
        await expect(take()).resolves.toEqual({ skipped: { model: 1, max_content_length: 1, max_length: 2 } });
        const servable = await enqueue({ wishes: { models: ['x', 'm'], maxLength: 80, maxContentLength: 1024 } });
        expect((await started()).requestId).toBe(servable.id);
        // In progress is not waiting: not counted as skipped.
        await expect(take()).resolves.toEqual({ skipped: { model: 1, max_content_length: 1, max_length: 2 } });
        await expect(take({ offer: { model: 'other', maxLength: 999, maxContentLength: 99_999 } })).resolves.toMatchObject({ requestId: expect.any(String) });
      });

      it('answers nothing skipped on an empty queue', async () => {
        await expect(take()).resolves.toEqual({ skipped: NONE_SKIPPED });
      });

      it('hands one slot to only one of concurrent pops', async () => {
        const made = await enqueue({ n: 1 });
        const results = await Promise.all([take({ serverId: 's1' }), take({ serverId: 's2' }), take({ serverId: 's1' })]);
        const startedOnes = results.filter((r): r is StartedGeneration => !('skipped' in r));
        expect(startedOnes).toHaveLength(1);
        expect(startedOnes[0].requestId).toBe(made.id);
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 0, processing: 1 });
      });
    });

    describe('popFor', () => {
      const SETTINGS: DeadlineSettings = { GENERATION_TIMEOUT_MIN_SECONDS: 1, GENERATION_TIMEOUT_SAFETY_FACTOR: 3, PROMPT_EXPIRY_SECONDS: 600 };

      function pop(over: Partial<ServerPop> = {}, now = 3000, owner = 'owner'): Promise<ServerPopOutcome | undefined> {
        return store.popFor({
          name: contractServerName('s1'),
          provenPasswordHash: CONTRACT_SERVER_HASH,
          update: { owner, model: over.models?.[0] ?? 'm', maxLength: 80, maxContentLength: 1024, lastSeenAt: now },
          models: ['m'],
          priorityUsernames: [],
          generationId: `g${++nextGeneration}`,
          deadline: SETTINGS,
          ...over,
        });
      }

      async function startedBy(over: Partial<ServerPop> = {}, now = 3000, owner = 'owner'): Promise<StartedGeneration> {
        const popped = await pop(over, now, owner);
        if (!popped || !('started' in popped)) throw new Error(`Expected a started slot, got ${JSON.stringify(popped)}`);
        return popped.started;
      }

      it('checks the server in and starts the best slot, in one step: answers the server as it was and the model that took it', async () => {
        const made = await enqueue({ n: 2 });
        const popped = await pop({}, 3000, 'new owner');
        expect(popped).toEqual({
          server: { id: 's1', name: contractServerName('s1'), owner: 'owner', model: 'm', maxLength: 80, maxContentLength: 1024, lastSeenAt: 0, maintenance: false },
          started: {
            generationId: `g${nextGeneration}`,
            requestId: made.id,
            payload: { temperature: 0.5, max_length: 80, prompt: 'It was a dark and stormy night', n: 1 },
            wishes: made.wishes,
            // No job yet: the minimum.
            deadline: 3000 + 1000,
          },
          model: 'm',
        });
        await expect(store.findGeneration(`g${nextGeneration}`)).resolves.toMatchObject({ serverId: 's1', startedAt: 3000, state: 'processing' });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 1, processing: 1, lastActivityAt: 3000 });
        // The check-in took: the next pop sees the server as the first left it.
        await expect(pop({}, 4000, 'new owner')).resolves.toMatchObject({ server: { owner: 'new owner', lastSeenAt: 3000 } });
      });

      it('answers the server as it was whether its owner, model or limits changed or only its last-seen time, and keeps what changed', async () => {
        let was = { id: 's1', name: contractServerName('s1'), owner: 'owner', model: 'm', maxLength: 80, maxContentLength: 1024, lastSeenAt: 0, maintenance: false };
        let now = 3000;
        const popAs = (server: typeof was) =>
          pop({ models: [server.model], update: { owner: server.owner, model: server.model, maxLength: server.maxLength, maxContentLength: server.maxContentLength, lastSeenAt: now } }, now);
        for (const change of [{}, { owner: 'new owner' }, {}, { model: 'm2' }, { maxLength: 40 }, { maxContentLength: 512 }, { owner: 'owner', model: 'm', maxLength: 80, maxContentLength: 1024 }, {}]) {
          now += 1000;
          const next = { ...was, ...change };
          await expect(popAs(next)).resolves.toEqual({ server: was, skipped: [{ model: 0, max_content_length: 0, max_length: 0 }] });
          was = { ...next, lastSeenAt: now };
        }
      });

      it('changes nothing and answers undefined for a hash that is not the password hash, or a name nobody holds', async () => {
        const made = await enqueue();
        await expect(pop({ provenPasswordHash: 'scrypt$other' })).resolves.toBeUndefined();
        await expect(pop({ name: 'nobody' })).resolves.toBeUndefined();
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 1, processing: 0 });
        await expect(pop({}, 5000)).resolves.toMatchObject({ server: { lastSeenAt: 0 } });
      });

      it('checks a server in maintenance in, and hands it nothing', async () => {
        const made = await enqueue();
        await fixture.setMaintenance('s1', true);
        await expect(pop({}, 3000)).resolves.toEqual({ server: expect.objectContaining({ maintenance: true, lastSeenAt: 0 }), inMaintenance: true });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 1 });
        await fixture.setMaintenance('s1', false);
        await expect(pop({}, 4000)).resolves.toMatchObject({ server: { maintenance: false, lastSeenAt: 3000 }, started: { requestId: made.id } });
      });

      it('tries its models in order: the first that can serve a request starts it; with none, the skipped counts of each', async () => {
        const wantsB = await enqueue({ wishes: { models: ['b'], maxLength: 80, maxContentLength: 1024 } });
        await expect(pop({ models: ['a', 'b'] })).resolves.toMatchObject({ started: { requestId: wantsB.id }, model: 'b' });
        await expect(store.findGeneration(`g${nextGeneration}`)).resolves.toMatchObject({ serverId: 's1' });
        await enqueue({ wishes: { models: ['c'], maxLength: 80, maxContentLength: 1024 } });
        await enqueue({ wishes: { models: ['a'], maxLength: 999, maxContentLength: 1024 } });
        await expect(pop({ models: ['a', 'b'] })).resolves.toMatchObject({
          skipped: [
            { model: 1, max_content_length: 0, max_length: 1 },
            { model: 2, max_content_length: 0, max_length: 0 },
          ],
        });
      });

      it("serves its owner's and the priority usernames' requests before anyone else's, the best of theirs first", async () => {
        const other = await enqueue({ username: 'carol', priority: 5 });
        const vip = await enqueue({ username: 'vip', priority: -5 });
        const own = await enqueue({ username: 'boss', priority: -10 });
        const order: string[] = [];
        for (let i = 0; i < 3; i++) order.push((await startedBy({ priorityUsernames: ['vip'] }, 3000, 'boss')).requestId);
        expect(order).toEqual([vip.id, own.id, other.id]);
      });

      it("sets the deadline by the server's measured speed over its recent jobs, exactly as deadlineRuleFor and deadlineOf", async () => {
        await enqueue({ n: 3, wishes: { models: [], maxLength: 77, maxContentLength: 1024 } });
        // Two jobs: 7 tokens in 1.234 s, 11 tokens in 0.777 s (awkward numbers: the arithmetic must be the same).
        const first = await startedBy({}, 10_000);
        await expect(submit(first.generationId, 11_234, 7)).resolves.toMatchObject({ outcome: 'accepted' });
        const second = await startedBy({}, 20_000);
        await expect(submit(second.generationId, 20_777, 11)).resolves.toMatchObject({ outcome: 'accepted' });
        const speed = tokensPerSecond({ recentJobs: [{ tokens: 7, seconds: 1.234 }, { tokens: 11, seconds: 0.777 }] }) as number;
        const third = await startedBy({}, 30_000);
        expect(third.deadline).toBe(deadlineOf(deadlineRuleFor(speed, SETTINGS), 77, 30_000));
        expect(third.deadline).not.toBe(30_000 + 1000);
      });
    });

    describe('findStanding', () => {
      const SMALL: ServerOffer = { model: 'm', maxLength: 16, maxContentLength: 1024 };

      it('counts the waiting slots ahead in the line of each given offer, undefined where the offer cannot serve it, and the fewest', async () => {
        // Lines exist for offers that popped.
        const WIDE: ServerOffer = { model: 'other', maxLength: 80, maxContentLength: 4096 };
        await take();
        await take({ offer: SMALL });
        await take({ offer: WIDE });
        const big = await enqueue({ n: 3, wishes: { models: [], maxLength: 80, maxContentLength: 1024 } });
        await enqueue({ n: 2, wishes: { models: [], maxLength: 16, maxContentLength: 1024 } });
        const mine = await enqueue({ n: 2, wishes: { models: [], maxLength: 16, maxContentLength: 1024 } });
        const standing = await store.findStanding(mine.id, [OFFER, SMALL, WIDE]);
        expect(standing).toEqual({ request: expect.objectContaining({ id: mine.id, waiting: 2 }), ahead: [5, 2, 5], position: 2 });
        // The big one: first in OFFER's line; SMALL cannot serve it.
        await expect(store.findStanding(big.id, [OFFER, SMALL])).resolves.toMatchObject({ ahead: [0, undefined], position: 0 });
      });

      it('counts the whole queue when no given offer can serve the request, 0 once nothing waits, and undefined for an unknown id', async () => {
        await take();
        await enqueue({ n: 2 });
        const mine = await enqueue({ wishes: { models: ['rare'], maxLength: 80, maxContentLength: 1024 } });
        await expect(store.findStanding(mine.id, [OFFER])).resolves.toMatchObject({ ahead: [undefined], position: 2 });
        await expect(store.findStanding(mine.id, [])).resolves.toMatchObject({ ahead: [], position: 2 });
        await store.cancel(mine.id, 3000);
        await expect(store.findStanding(mine.id, [OFFER])).resolves.toMatchObject({ ahead: [undefined], position: 0, request: expect.objectContaining({ waiting: 0 }) });
        await expect(store.findStanding('nope', [OFFER])).resolves.toBeUndefined();
      });

      it('counts only the waiting slots ahead in the whole queue when slots of a request ahead were taken but not all', async () => {
        await take();
        const ahead = await enqueue({ n: 5 });
        const mine = await enqueue({ wishes: { models: ['rare'], maxLength: 80, maxContentLength: 1024 } });
        for (let i = 0; i < 3; i++) await take();
        await expect(store.findStanding(mine.id, [OFFER])).resolves.toMatchObject({ ahead: [undefined], position: 2 });
        await expect(store.findStanding(ahead.id, [OFFER])).resolves.toMatchObject({ ahead: [0], position: 0, request: expect.objectContaining({ waiting: 2 }) });
        await take();
        await take();
        await expect(store.findStanding(mine.id, [OFFER])).resolves.toMatchObject({ ahead: [undefined], position: 0 });
      });

      it('moves a request forward as the slots ahead are taken', async () => {
        await take();
        await enqueue({ n: 2 });
        const mine = await enqueue();
        await expect(store.findStanding(mine.id, [OFFER])).resolves.toMatchObject({ position: 2 });
        await take();
        await expect(store.findStanding(mine.id, [OFFER])).resolves.toMatchObject({ position: 1 });
        await take();
        await expect(store.findStanding(mine.id, [OFFER])).resolves.toMatchObject({ position: 0 });
      });
    });

    describe('submit', () => {
      it('takes the text, completes the request with its last slot, and credits each accepted text once', async () => {
        const made = await enqueue({ n: 2, username: 'alice' });
        const first = await started({ now: 2000 });
        const second = await started({ now: 2000, serverId: 's2' });
        const accepted = await store.submit({ generationId: first.generationId, text: 'one', now: 5000, tokens: 7, provenServerIds: ['s1'] });
        // The request without its texts: a submit costs the same whatever n (findRequest has them).
        // Nor the generation: what the service needs is the request (findGeneration has the generation).
        expect(accepted).toEqual({ outcome: 'accepted', request: { id: made.id, createdAt: made.now, cancelled: false, done: false }, completedRequest: false });
        await expect(store.findGeneration(first.generationId)).resolves.toMatchObject({ id: first.generationId, state: 'submitted' });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ generations: ['one'], waiting: 0, processing: 1, done: false, lastActivityAt: 5000 });
        const last = await store.submit({ generationId: second.generationId, text: 'two', now: 6000, tokens: 5, provenServerIds: ['s2'] });
        expect(last).toEqual({ outcome: 'accepted', request: { id: made.id, createdAt: made.now, cancelled: false, done: true }, completedRequest: true });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ generations: ['one', 'two'], done: true });
        await expect(fixture.credited.usage('alice')).resolves.toBe(12);
        await expect(fixture.credited.contributions('owner')).resolves.toBe(7);
        await expect(fixture.credited.contributions('owner2')).resolves.toBe(5);
        await expect(fixture.credited.serverJobs('s1')).resolves.toEqual({ jobs: 1, tokens: 7, seconds: 3 });
        await expect(fixture.credited.serverJobs('s2')).resolves.toEqual({ jobs: 1, tokens: 5, seconds: 4 });
        await expect(store.countUnfinishedByUsername('alice')).resolves.toBe(0);
      });

      it('records who made each text, in the order of the texts: the server and the model of the offer it popped with; not who was refused', async () => {
        const made = await enqueue({ n: 3 });
        const fromS1 = await started({ serverId: 's1' });
        const fromS2 = await started({ serverId: 's2', offer: { model: 'other', maxLength: 80, maxContentLength: 1024 } });
        const third = await started({ serverId: 's2' });
        await submit(fromS2.generationId, 3000, 7, 'B');
        await expect(submit(fromS2.generationId, 3100, 7, 'B again')).resolves.toEqual({ outcome: 'already-submitted' });
        await expect(submit(fromS1.generationId, 3200, 7, 'A')).resolves.toMatchObject({ outcome: 'accepted' });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ generations: ['B', 'A'], generationAuthors: [{ serverId: 's2', model: 'other' }, { serverId: 's1', model: 'm' }] });
        await submit(third.generationId, 3300, 7, 'C');
        await expect(store.findRequest(made.id)).resolves.toMatchObject({
          generations: ['B', 'A', 'C'],
          generationAuthors: [
            { serverId: 's2', model: 'other' },
            { serverId: 's1', model: 'm' },
            { serverId: 's2', model: 'm' },
          ],
        });
      });

      it('refuses an unknown or already submitted generation, without credit', async () => {
        await enqueue();
        const generation = await started();
        await expect(submit('nope')).resolves.toEqual({ outcome: 'unknown' });
        await expect(submit(generation.generationId)).resolves.toMatchObject({ outcome: 'accepted' });
        await expect(submit(generation.generationId)).resolves.toEqual({ outcome: 'already-submitted' });
        await expect(fixture.credited.usage('alice')).resolves.toBe(7);
        await expect(fixture.credited.serverJobs('s1')).resolves.toMatchObject({ jobs: 1, tokens: 7 });
      });

      it("refuses, as unproven, a generation of a server not among the proven ones, without any change or credit; the server's own submit is accepted later", async () => {
        const made = await enqueue();
        const generation = await started({ serverId: 's1' });
        await expect(submit(generation.generationId, 5000, 7, 'forged', ['s2'])).resolves.toEqual({ outcome: 'unproven', serverId: 's1' });
        await expect(submit(generation.generationId, 5000, 7, 'forged', [])).resolves.toEqual({ outcome: 'unproven', serverId: 's1' });
        await expect(submit(generation.generationId, 5000, 7, 'forged', ['s11', 'xs1', 's'])).resolves.toEqual({ outcome: 'unproven', serverId: 's1' });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ generations: [], processing: 1, lastActivityAt: 2000 });
        await expect(store.findGeneration(generation.generationId)).resolves.toMatchObject({ state: 'processing' });
        await expect(fixture.credited.usage('alice')).resolves.toBe(0);
        await expect(fixture.credited.contributions('owner2')).resolves.toBe(0);
        await expect(fixture.credited.serverJobs('s1')).resolves.toMatchObject({ jobs: 0 });
        await expect(submit(generation.generationId, 6000, 7, 'real', ['s2', 's1'])).resolves.toMatchObject({ outcome: 'accepted' });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ generations: ['real'] });
        await expect(fixture.credited.contributions('owner')).resolves.toBe(7);
        // Unknown comes first; once submitted, an unproven submit is still told 'unproven', not 'already-submitted'.
        await expect(submit('nope', 6000, 7, 'x', [])).resolves.toEqual({ outcome: 'unknown' });
        await expect(submit(generation.generationId, 6000, 7, 'again', ['s2'])).resolves.toEqual({ outcome: 'unproven', serverId: 's1' });
      });

      it('refuses, as unproven, a generation whose server no longer exists, without credit', async () => {
        const made = await enqueue();
        const generation = await started({ serverId: 's2' });
        await fixture.removeServer('s2');
        await expect(submit(generation.generationId)).resolves.toEqual({ outcome: 'unproven', serverId: 's2' });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ generations: [], processing: 1 });
        await expect(fixture.credited.usage('alice')).resolves.toBe(0);
        await expect(fixture.credited.contributions('owner2')).resolves.toBe(0);
      });

      it("credits the contribution to the server's owner at the time of the submit", async () => {
        await enqueue({ n: 2 });
        const first = await started({ serverId: 's1' });
        const second = await started({ serverId: 's1' });
        await submit(first.generationId, 5000, 7);
        await fixture.changeOwner('s1', 'carol');
        await submit(second.generationId, 5000, 5);
        await expect(fixture.credited.contributions('owner')).resolves.toBe(7);
        await expect(fixture.credited.contributions('carol')).resolves.toBe(5);
        await expect(fixture.credited.serverJobs('s1')).resolves.toMatchObject({ jobs: 2, tokens: 12 });
      });

      it('accepts and credits only one of concurrent submits of a generation', async () => {
        await enqueue();
        const generation = await started();
        const outcomes = await Promise.all([submit(generation.generationId), submit(generation.generationId), submit(generation.generationId)]);
        expect(outcomes.map((o) => o.outcome).sort()).toEqual(['accepted', 'already-submitted', 'already-submitted']);
        await expect(fixture.credited.usage('alice')).resolves.toBe(7);
        await expect(fixture.credited.contributions('owner')).resolves.toBe(7);
        await expect(fixture.credited.serverJobs('s1')).resolves.toMatchObject({ jobs: 1, tokens: 7 });
      });

      it("credits each of a server's concurrent submits once: every job and token counted, none twice", async () => {
        await enqueue({ n: 12 });
        const generations: StartedGeneration[] = [];
        for (let i = 0; i < 12; i++) generations.push(await started());
        // Each generation submitted twice at once, with its own number of tokens (1 .. 12: 78 in all).
        const outcomes = await Promise.all(generations.flatMap((g, i) => [submit(g.generationId, 5000, i + 1), submit(g.generationId, 5000, i + 1)]));
        expect(outcomes.filter((o) => o.outcome === 'accepted')).toHaveLength(12);
        expect(outcomes.filter((o) => o.outcome === 'already-submitted')).toHaveLength(12);
        await expect(fixture.credited.serverJobs('s1')).resolves.toMatchObject({ jobs: 12, tokens: 78 });
        await expect(fixture.credited.usage('alice')).resolves.toBe(78);
        await expect(fixture.credited.contributions('owner')).resolves.toBe(78);
      });
    });

    describe('restartOverdue', () => {
      it('puts an overdue slot back to waiting once, however often it runs', async () => {
        const made = await enqueue({ n: 2 });
        const generation = await started({ now: 0 });
        const deadline = generation.deadline;
        await expect(store.restartOverdue(deadline - 1)).resolves.toBe(0);
        const twice = await Promise.all([store.restartOverdue(deadline), store.restartOverdue(deadline)]);
        expect(twice[0] + twice[1]).toBe(1);
        await expect(store.restartOverdue(deadline + 1000)).resolves.toBe(0);
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 2, processing: 0, restarted: 1, done: false });
        await expect(store.findGeneration(generation.generationId)).resolves.toMatchObject({ state: 'overdue' });
      });

      it('keeps the request its place in line', async () => {
        const older = await enqueue();
        await enqueue();
        const generation = await started({ now: 0 });
        expect(generation.requestId).toBe(older.id);
        await store.restartOverdue(generation.deadline);
        expect((await started({ now: generation.deadline })).requestId).toBe(older.id);
      });

      it('hands the put-back slot out first; its late text then completes it and supersedes the redo', async () => {
        const made = await enqueue({ n: 2 });
        const late = await started({ now: 0, serverId: 's1' });
        await store.restartOverdue(late.deadline);
        const redo = await started({ now: late.deadline, serverId: 's2' });
        expect(redo.requestId).toBe(made.id);
        await expect(submit(late.generationId, late.deadline + 10)).resolves.toMatchObject({ outcome: 'accepted', request: { done: false } });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 1, processing: 0 });
        await expect(store.findGeneration(redo.generationId)).resolves.toMatchObject({ state: 'superseded' });
        await expect(submit(redo.generationId, late.deadline + 20)).resolves.toEqual({ outcome: 'slot-complete' });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 1, processing: 0, generations: [`text of ${late.generationId}`] });
        // Credited once, to the server whose text was taken.
        await expect(fixture.credited.serverJobs('s1')).resolves.toMatchObject({ jobs: 1 });
        await expect(fixture.credited.serverJobs('s2')).resolves.toMatchObject({ jobs: 0 });
        // The other slot is still there to serve.
        expect((await started({ now: late.deadline + 30 })).requestId).toBe(made.id);
      });

      it('takes a late text while its put-back slot still waits: the slot leaves the line', async () => {
        const made = await enqueue({ n: 1 });
        const late = await started({ now: 0 });
        await store.restartOverdue(late.deadline);
        await expect(submit(late.generationId, late.deadline + 10)).resolves.toMatchObject({ outcome: 'accepted', completedRequest: true, request: { done: true } });
        await expect(take({ now: late.deadline + 20 })).resolves.toEqual({ skipped: NONE_SKIPPED });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 0, done: true, restarted: 1 });
      });

      it("refuses a late text once the redo's text completed the slot", async () => {
        await enqueue({ n: 1 });
        const late = await started({ now: 0 });
        await store.restartOverdue(late.deadline);
        const redo = await started({ now: late.deadline });
        await expect(submit(redo.generationId, late.deadline + 10)).resolves.toMatchObject({ outcome: 'accepted', completedRequest: true });
        await expect(submit(late.generationId, late.deadline + 20)).resolves.toEqual({ outcome: 'slot-complete' });
        await expect(store.findGeneration(late.generationId)).resolves.toMatchObject({ state: 'superseded' });
        await expect(fixture.credited.usage('alice')).resolves.toBe(7);
      });
    });

    describe('abandon', () => {
      it('puts the slot back to waiting at once, counted in restarted, without credit; the next pop takes it first', async () => {
        const made = await enqueue({ n: 2 });
        const other = await enqueue();
        const given = await started({ now: 2000 });
        await expect(store.abandon(given.generationId, 2500)).resolves.toEqual({
          outcome: 'put-back',
          request: expect.objectContaining({ id: made.id, waiting: 2, processing: 0, restarted: 1, done: false, lastActivityAt: 2500, generations: [] }),
        });
        await expect(store.findGeneration(given.generationId)).resolves.toMatchObject({ state: 'overdue' });
        // Its deadline no longer puts anything back.
        await expect(store.restartOverdue(given.deadline)).resolves.toBe(0);
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 2, restarted: 1 });
        expect((await started({ now: 3000, serverId: 's2' })).requestId).toBe(made.id);
        expect((await started({ now: 3000, serverId: 's2' })).requestId).toBe(made.id);
        expect((await started({ now: 3000, serverId: 's2' })).requestId).toBe(other.id);
        await expect(fixture.credited.usage('alice')).resolves.toBe(0);
        await expect(fixture.credited.serverJobs('s1')).resolves.toMatchObject({ jobs: 0 });
        await expect(store.countUnfinishedByUsername('alice')).resolves.toBe(2);
      });

      it('still takes a late text of the given-up attempt, as of an overdue one', async () => {
        const made = await enqueue({ n: 1 });
        const given = await started({ now: 2000 });
        await store.abandon(given.generationId, 2500);
        await expect(submit(given.generationId, 2600)).resolves.toMatchObject({ outcome: 'accepted', completedRequest: true, request: { done: true } });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 0, done: true, restarted: 1 });
        await expect(take({ now: 2700 })).resolves.toEqual({ skipped: NONE_SKIPPED });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ generationAuthors: [{ serverId: 's1', model: 'm' }] });
      });

      it('drops the slot of a cancelled request instead, which then settles', async () => {
        const made = await enqueue({ n: 2 });
        const given = await started({ now: 2000 });
        await store.cancel(made.id, 2100);
        const settled = settledIds();
        await expect(store.abandon(given.generationId, 2500)).resolves.toEqual({
          outcome: 'dropped',
          request: expect.objectContaining({ id: made.id, waiting: 0, processing: 0, restarted: 1, cancelled: true, done: true }),
        });
        await expect(settled.atLeast(1)).resolves.toEqual([made.id]);
        await expect(store.countUnfinishedByRequester('alice')).resolves.toBe(0);
        await expect(take({ now: 2600 })).resolves.toEqual({ skipped: NONE_SKIPPED });
      });

      it('changes nothing for an unknown, submitted, overdue or superseded attempt', async () => {
        const made = await enqueue({ n: 2 });
        const submitted = await started({ now: 0 });
        await submit(submitted.generationId, 100);
        const late = await started({ now: 0 });
        await store.restartOverdue(late.deadline);
        await expect(store.abandon('nope', 200)).resolves.toEqual({ outcome: 'unknown' });
        await expect(store.abandon(submitted.generationId, 200)).resolves.toEqual({ outcome: 'already-submitted' });
        await expect(store.abandon(late.generationId, 200)).resolves.toEqual({ outcome: 'not-in-progress' });
        // The redo, superseded by the late text.
        const redo = await started({ now: late.deadline, serverId: 's2' });
        await submit(late.generationId, late.deadline + 10);
        await expect(store.abandon(redo.generationId, late.deadline + 20)).resolves.toEqual({ outcome: 'not-in-progress' });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 0, processing: 0, restarted: 1, done: true, lastActivityAt: late.deadline + 10 });
      });

      it('puts the slot back once, whichever of concurrent give-ups and deadline sweeps comes first', async () => {
        const made = await enqueue({ n: 1 });
        const given = await started({ now: 0 });
        const [first, second, swept] = await Promise.all([store.abandon(given.generationId, 100), store.abandon(given.generationId, 100), store.restartOverdue(given.deadline)]);
        const putBack = [first, second].filter((o) => o.outcome === 'put-back').length + swept;
        expect(putBack).toBe(1);
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 1, processing: 0, restarted: 1 });
      });
    });

    describe('cancel', () => {
      it('drops the waiting slots, keeps the one in progress, which is still taken and credited', async () => {
        const made = await enqueue({ n: 3 });
        const generation = await started({ now: 2000 });
        const settled = settledIds();
        await expect(store.cancel(made.id, 3000)).resolves.toMatchObject({ id: made.id, cancelled: true, waiting: 0, processing: 1, done: false, lastActivityAt: 3000 });
        await expect(take()).resolves.toEqual({ skipped: NONE_SKIPPED });
        await expect(store.countUnfinishedByUsername('alice')).resolves.toBe(1);
        await expect(submit(generation.generationId, 4000)).resolves.toMatchObject({
          outcome: 'accepted',
          request: { cancelled: true, done: true },
          completedRequest: true,
        });
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ generations: [`text of ${generation.generationId}`] });
        // Once: the cancel, with a generation in progress, did not settle it.
        await expect(settled.atLeast(1)).resolves.toEqual([made.id]);
        await expect(fixture.credited.usage('alice')).resolves.toBe(7);
        await expect(store.countUnfinishedByUsername('alice')).resolves.toBe(0);
        await expect(store.cancel('nope', 3000)).resolves.toBeUndefined();
      });

      it('settles a request with nothing in progress at once', async () => {
        const made = await enqueue({ n: 2 });
        const settled = settledIds();
        await expect(store.cancel(made.id, 3000)).resolves.toMatchObject({ cancelled: true, done: true });
        await expect(settled.atLeast(1)).resolves.toEqual([made.id]);
        await expect(store.countUnfinishedByRequester('alice')).resolves.toBe(0);
      });

      it('drops an overdue slot of a cancelled request instead of putting it back; its late text is still credited', async () => {
        const made = await enqueue({ n: 1 });
        const generation = await started({ now: 0 });
        await store.cancel(made.id, 100);
        const settled = settledIds();
        await expect(store.restartOverdue(generation.deadline)).resolves.toBe(0);
        await expect(store.findRequest(made.id)).resolves.toMatchObject({ waiting: 0, processing: 0, restarted: 1, done: true });
        await expect(settled.atLeast(1)).resolves.toEqual([made.id]);
        await expect(submit(generation.generationId, generation.deadline + 1)).resolves.toMatchObject({ outcome: 'accepted', completedRequest: false });
        await expect(fixture.credited.usage('alice')).resolves.toBe(7);
      });
    });

    describe('expireIdle', () => {
      it('deletes the requests idle since the cutoff, longest idle first, at most `limit`, each reported once', async () => {
        const a = await enqueue({ now: 1000 });
        const b = await enqueue({ now: 2000, n: 2 });
        const c = await enqueue({ now: 3000 });
        // A pop is activity (b's); reads are not.
        const generation = await started({ now: 4000 });
        expect(generation.requestId).toBe(a.id);
        await store.findRequest(b.id);
        await store.findStanding(c.id, [OFFER]);
        const settled = settledIds();
        await expect(store.expireIdle(3500, 1)).resolves.toEqual([{ id: b.id, done: false }]);
        await expect(store.expireIdle(3500, 10)).resolves.toEqual([{ id: c.id, done: false }]);
        await expect(store.expireIdle(3500, 10)).resolves.toEqual([]);
        await expect(settled.atLeast(2)).resolves.toEqual([b.id, c.id]);
        await expect(store.findRequest(b.id)).resolves.toBeUndefined();
        await expect(store.findRequest(a.id)).resolves.toBeDefined();
        await expect(store.countUnfinishedByUsername('alice')).resolves.toBe(1);
        await expect(store.summarize()).resolves.toMatchObject({ held: 1, waiting: { requests: 0, slots: 0 } });
      });

      it('goes by each request\'s last activity, however the adapter records it: a request active since is not the longest idle', async () => {
        const x = await enqueue({ now: 1000 });
        const y = await enqueue({ now: 2000 });
        // x's pop at 3000 is its last activity: y, idle since 2000, is now the longest idle.
        expect((await started({ now: 3000 })).requestId).toBe(x.id);
        await expect(store.expireIdle(2999, 10)).resolves.toEqual([{ id: y.id, done: false }]);
        await expect(store.expireIdle(2999, 10)).resolves.toEqual([]);
        const z = await enqueue({ now: 3500 });
        await expect(store.expireIdle(4000, 1)).resolves.toEqual([{ id: x.id, done: false }]);
        await expect(store.expireIdle(4000, 1)).resolves.toEqual([{ id: z.id, done: false }]);
      });

      it('takes the longest idle first by last activity: a request active since waits its turn', async () => {
        const x = await enqueue({ now: 1000 });
        const w = await enqueue({ now: 1500 });
        const y = await enqueue({ now: 2000 });
        // x and w are popped at 3000, their last activity: y, idle since 2000, is now the longest idle.
        expect((await started({ now: 3000 })).requestId).toBe(x.id);
        expect((await started({ now: 3000 })).requestId).toBe(w.id);
        await expect(store.expireIdle(4000, 1)).resolves.toEqual([{ id: y.id, done: false }]);
        await expect(store.expireIdle(4000, 1)).resolves.toEqual([{ id: x.id, done: false }]);
        await expect(store.expireIdle(4000, 1)).resolves.toEqual([{ id: w.id, done: false }]);
        // Several at once, in the order of their last activity: u (active at 4500) before v (idle since 5000).
        const u = await enqueue({ now: 4000 });
        expect((await started({ now: 4500 })).requestId).toBe(u.id);
        const v = await enqueue({ now: 5000 });
        await expect(store.expireIdle(6000, 2)).resolves.toEqual([u, v].map((r) => ({ id: r.id, done: false })));
      });

      it('deletes a request with its processing generations, and reports whether it was done', async () => {
        const a = await enqueue({ now: 1000 });
        const b = await enqueue({ now: 1000 });
        const ga = await started({ now: 1000 });
        const gb = await started({ now: 1000 });
        await submit(ga.generationId, 1000);
        const expired = await store.expireIdle(1000, 10);
        expect(expired.sort((x, y) => x.id.localeCompare(y.id))).toEqual([{ id: a.id, done: true }, { id: b.id, done: false }].sort((x, y) => x.id.localeCompare(y.id)));
        await expect(store.findGeneration(ga.generationId)).resolves.toBeUndefined();
        await expect(submit(gb.generationId, 2000)).resolves.toEqual({ outcome: 'unknown' });
        await expect(store.restartOverdue(gb.deadline)).resolves.toBe(0);
        await expect(store.countUnfinishedByUsername('alice')).resolves.toBe(0);
      });

      it('reports each request once to concurrent expiries', async () => {
        for (let i = 0; i < 5; i++) await enqueue({ now: 1000 });
        const results = await Promise.all([store.expireIdle(2000, 3), store.expireIdle(2000, 3), store.expireIdle(2000, 3)]);
        const ids = results.flat().map((e) => e.id);
        expect(ids).toHaveLength(5);
        expect(new Set(ids).size).toBe(5);
      });
    });

    describe('retainOffers, summarize, onSettled', () => {
      it('keeps serving after forgetting the lines of inactive offers', async () => {
        const other: ServerOffer = { model: 'other', maxLength: 80, maxContentLength: 1024 };
        await take();
        await take({ offer: other });
        await store.retainOffers([OFFER]);
        const a = await enqueue({ wishes: { models: ['other'], maxLength: 80, maxContentLength: 1024 } });
        const b = await enqueue();
        await expect(take()).resolves.toMatchObject({ requestId: b.id });
        await expect(take()).resolves.toEqual({ skipped: { model: 1, max_content_length: 0, max_length: 0 } });
        await expect(take({ offer: other })).resolves.toMatchObject({ requestId: a.id });
        await store.retainOffers([]);
      });

      it('counts waiting requests and slots, processing generations, the oldest wait, the models asked for, and the requests held', async () => {
        await expect(store.summarize()).resolves.toEqual({
          waiting: { requests: 0, slots: 0 },
          processingGenerations: 0,
          oldestWaitingSince: null,
          waitingByModel: new Map(),
          waitingForAnyModel: { requests: 0, slots: 0 },
          held: 0,
        });
        const wishes = (models: string[]) => ({ models, maxLength: 80, maxContentLength: 1024 });
        const ab = await enqueue({ wishes: wishes(['a', 'b', 'a']), n: 3, now: 20 });
        await enqueue({ wishes: wishes([]), n: 2, now: 50 });
        await enqueue({ wishes: wishes(['b']), n: 1, now: 30 });
        const done = await enqueue({ wishes: wishes(['c']), n: 1, now: 10 });
        await store.cancel(done.id, 60);
        expect((await started({ offer: { model: 'b', maxLength: 80, maxContentLength: 1024 }, now: 60 })).requestId).toBe(ab.id);
        const summary = await store.summarize();
        expect(summary).toEqual({
          waiting: { requests: 3, slots: 5 },
          processingGenerations: 1,
          oldestWaitingSince: 20,
          waitingByModel: new Map([
            ['a', { requests: 1, slots: 2 }],
            ['b', { requests: 2, slots: 3 }],
          ]),
          waitingForAnyModel: { requests: 1, slots: 2 },
          held: 4,
        });
      });

      it('tells every listener when a request is done, and not before', async () => {
        const made = await enqueue({ n: 2 });
        const other = await enqueue();
        const first = settledIds();
        const second = settledIds();
        const g1 = await started();
        const g2 = await started();
        await submit(g1.generationId);
        await submit(g2.generationId);
        // A refused submit settles nothing again.
        await submit(g2.generationId);
        await store.cancel(other.id, 6000);
        // Neither the first submit nor the refused one settled anything: made once, then other.
        await expect(first.atLeast(2)).resolves.toEqual([made.id, other.id]);
        await expect(second.atLeast(2)).resolves.toEqual([made.id, other.id]);
      });
    });
  });
}
