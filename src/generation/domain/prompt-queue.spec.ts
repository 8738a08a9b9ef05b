import fc from 'fast-check';
import { ProcessingGeneration } from './processing-generation';
import { offerKey, PromptQueue, ServerOffer, skipReason } from './prompt-queue';
import { PromptWishes, WaitingPrompt } from './waiting-prompt';

let nextId = 0;
function request(wishes: Partial<PromptWishes> = {}, n = 1, username = 'u', priority = 0): WaitingPrompt {
  return new WaitingPrompt({
    id: `r${nextId++}`,
    prompt: 'p',
    params: {},
    username,
    wishes: { models: [], maxLength: 80, maxContentLength: 1024, ...wishes },
    n,
    now: 0,
    priority,
  });
}

const offer: ServerOffer = { model: 'nerys', maxLength: 80, maxContentLength: 1024 };

describe('skipReason', () => {
  it('accepts a request the server can serve', () => {
    expect(skipReason({ models: [], maxLength: 80, maxContentLength: 1024 }, offer)).toBeNull();
    expect(skipReason({ models: ['other', 'nerys'], maxLength: 10, maxContentLength: 10 }, offer)).toBeNull();
  });

  it('gives the reason by model first, then context, then length', () => {
    expect(skipReason({ models: ['other'], maxLength: 999, maxContentLength: 9999 }, offer)).toBe('model');
    expect(skipReason({ models: [], maxLength: 999, maxContentLength: 9999 }, offer)).toBe('max_content_length');
    expect(skipReason({ models: [], maxLength: 81, maxContentLength: 1024 }, offer)).toBe('max_length');
  });

  it('compares context with context and length with length', () => {
    // A request for 100 tokens with a 500-token context fits a server with max_length 100 and context 500.
    expect(skipReason({ models: [], maxLength: 100, maxContentLength: 500 }, { model: 'm', maxLength: 100, maxContentLength: 500 })).toBeNull();
    expect(skipReason({ models: [], maxLength: 101, maxContentLength: 500 }, { model: 'm', maxLength: 100, maxContentLength: 2048 })).toBe('max_length');
  });
});

describe('PromptQueue', () => {
  it('hands out the oldest request first, across groups of wishes', () => {
    const queue = new PromptQueue();
    const a = request({ maxLength: 50 });
    const b = request({ models: ['nerys'] });
    const c = request();
    queue.enqueue(a);
    queue.enqueue(b);
    queue.enqueue(c);
    expect(queue.take(offer, 1).prompt).toBe(a);
    expect(queue.take(offer, 2).prompt).toBe(b);
    expect(queue.take(offer, 3).prompt).toBe(c);
    expect(queue.take(offer, 4)).toEqual({ skipped: { model: 0, max_length: 0, max_content_length: 0 } });
  });

  it('hands out one slot per take, so several servers fill one request', () => {
    const queue = new PromptQueue();
    const r = request({}, 3);
    queue.enqueue(r);
    expect(queue.take(offer, 1).prompt).toBe(r);
    expect(queue.take(offer, 1).prompt).toBe(r);
    expect(r).toMatchObject({ waiting: 1, processing: 2 });
    expect(queue.size).toBe(1);
    expect(queue.take(offer, 1).prompt).toBe(r);
    expect(queue.size).toBe(0);
    expect(queue.has(r)).toBe(false);
  });

  it('skips requests the server cannot serve and counts them by reason', () => {
    const queue = new PromptQueue();
    queue.enqueue(request({ models: ['other'] }));
    queue.enqueue(request({ models: ['other'] }));
    queue.enqueue(request({ maxLength: 500 }));
    queue.enqueue(request({ maxContentLength: 4096 }));
    expect(queue.take(offer, 1)).toEqual({ skipped: { model: 2, max_length: 1, max_content_length: 1 } });
    expect(queue.size).toBe(4);
  });

  it('takes a younger request it can serve over an older one it cannot', () => {
    const queue = new PromptQueue();
    const old = request({ models: ['other'] });
    const young = request({ models: ['nerys'] });
    queue.enqueue(old);
    queue.enqueue(young);
    expect(queue.take(offer, 1).prompt).toBe(young);
    expect(queue.take({ ...offer, model: 'other' }, 1).prompt).toBe(old);
  });

  it('forgets removed requests, and a removed request is never handed out', () => {
    const queue = new PromptQueue();
    const a = request();
    const b = request();
    queue.enqueue(a);
    queue.enqueue(b);
    queue.remove(a);
    expect(queue.size).toBe(1);
    expect(queue.take(offer, 1).prompt).toBe(b);
    expect(queue.take(offer, 1).prompt).toBeUndefined();
  });

  it('gives a request that comes back its old place in line', () => {
    const queue = new PromptQueue();
    const a = request({}, 1);
    const b = request({}, 1);
    queue.enqueue(a);
    queue.enqueue(b);
    const taken = queue.take(offer, 1);
    expect(taken.prompt).toBe(a);
    // a's slot is put back (its server missed the deadline): a is older than b, so it goes first again.
    const attempt = { id: 'g1', promptId: a.id, serverId: 's', model: 'm', slot: taken.slot!, startedAt: 1, deadline: 2, state: 'processing' as const };
    a.assign(attempt);
    expect(a.putBackOverdue(attempt)).toBe(true);
    queue.enqueue(a);
    expect(queue.take(offer, 2).prompt).toBe(a);
    expect(queue.take(offer, 3).prompt).toBe(b);
  });

  it('ignores enqueueing a request twice or one with no waiting slot', () => {
    const queue = new PromptQueue();
    const a = request();
    queue.enqueue(a);
    queue.enqueue(a);
    expect(queue.size).toBe(1);
    expect(queue.take(offer, 1).prompt).toBe(a);
    queue.enqueue(a);
    expect(queue.size).toBe(0);
  });

  it('treats the same models in another order as the same wishes', () => {
    const queue = new PromptQueue();
    queue.enqueue(request({ models: ['x', 'y'] }));
    queue.enqueue(request({ models: ['y', 'x'] }));
    expect(queue.take({ ...offer, model: 'z' }, 1)).toEqual({ skipped: { model: 2, max_length: 0, max_content_length: 0 } });
  });

  it('serves a higher priority first, whatever its age', () => {
    const queue = new PromptQueue();
    const consumer = request({}, 1, 'consumer', -10);
    const contributor = request({ maxLength: 40 }, 1, 'contributor', 50);
    queue.enqueue(consumer);
    queue.enqueue(contributor);
    expect(queue.take(offer, 1).prompt).toBe(contributor);
    expect(queue.take(offer, 1).prompt).toBe(consumer);
  });

  it("serves the server's priority usernames first, then everyone by priority", () => {
    const queue = new PromptQueue();
    const rich = request({}, 1, 'rich', 100);
    const friend = request({ maxLength: 50 }, 2, 'friend', -100);
    const owner = request({}, 1, 'owner', -50);
    [rich, friend, owner].forEach((r) => queue.enqueue(r));
    const priority = new Set(['owner', 'friend']);
    expect(queue.take(offer, 1, priority).prompt).toBe(owner);
    expect(queue.take(offer, 1, priority).prompt).toBe(friend);
    expect(queue.take(offer, 1, priority).prompt).toBe(friend);
    expect(queue.take(offer, 1, priority).prompt).toBe(rich);
  });

  it('does not let priority usernames reach requests the server cannot serve', () => {
    const queue = new PromptQueue();
    const friendElsewhere = request({ models: ['other'] }, 1, 'friend');
    const stranger = request({}, 1, 'stranger');
    queue.enqueue(friendElsewhere);
    queue.enqueue(stranger);
    expect(queue.take(offer, 1, new Set(['friend'])).prompt).toBe(stranger);
  });

  it('drops entries a request no longer has (a late text completed a put-back slot)', () => {
    const queue = new PromptQueue();
    const r = request({}, 1);
    queue.enqueue(r);
    const taken = queue.take(offer, 1);
    const attempt = { id: 'g', promptId: r.id, serverId: 's', model: 'm', slot: taken.slot!, startedAt: 1, deadline: 2, state: 'processing' as const };
    r.assign(attempt);
    r.putBackOverdue(attempt);
    queue.enqueue(r);
    expect(queue.has(r)).toBe(true);
    r.finishSlot(attempt, 'late', 3);
    queue.enqueue(r);
    expect(queue.take(offer, 4).prompt).toBeUndefined();
  });

  describe('standingOf and positionOf', () => {
    const long: ServerOffer = { ...offer, maxLength: 1000 };

    it('counts the slots ahead in the line of each offer able to serve the request, and gives the fewest', () => {
      const queue = new PromptQueue();
      // Both kinds of server popped before anything waited: each has its line.
      queue.take(offer, 0);
      queue.take(long, 0);
      const first = request({}, 3, 'a', 10);
      const otherModel = request({ models: ['other'] }, 5, 'b', 10);
      const longer = request({ maxLength: 500 }, 2, 'c', 10);
      const mine = request({}, 2, 'me', 0);
      const after = request({}, 4, 'd', -5);
      [first, otherModel, longer, mine, after].forEach((r) => queue.enqueue(r));
      // `offer` (nerys, max_length 80) serves first's 3 slots before mine; `long` also longer's 2.
      expect(queue.standingOf(mine, [offer, long])).toEqual({ position: 3, ahead: [3, 5] });
      expect(queue.positionOf(mine, [long])).toBe(5);
      expect(queue.positionOf(first, [offer])).toBe(0);
      expect(queue.positionOf(after, [offer])).toBe(5);
      // An offer that cannot serve the request has no say.
      expect(queue.standingOf(mine, [{ ...offer, model: 'other' }, offer])).toEqual({ position: 3, ahead: [undefined, 3] });
      expect(queue.standingOf(request(), [offer])).toEqual({ position: 0, ahead: [undefined] });
    });

    it('moves up as slots ahead are served, and is 0 once nothing waits', () => {
      const queue = new PromptQueue();
      const ahead = request({}, 2, 'a', 10);
      const mine = request({}, 1, 'me', 0);
      queue.enqueue(ahead);
      queue.enqueue(mine);
      expect(queue.take(offer, 1).prompt).toBe(ahead);
      expect(queue.positionOf(mine, [offer])).toBe(1);
      queue.take(offer, 1);
      expect(queue.positionOf(mine, [offer])).toBe(0);
      queue.take(offer, 1);
      expect(queue.positionOf(mine, [offer])).toBe(0);
    });

    it('counts the whole queue ahead when no offer able to serve it has a line', () => {
      const queue = new PromptQueue();
      const ahead = request({ models: ['rare'] }, 2, 'a', 10);
      const mine = request({ models: ['rare'] }, 1, 'me', 0);
      queue.enqueue(request({}, 7, 'x', 20));
      queue.enqueue(ahead);
      queue.enqueue(mine);
      queue.enqueue(request({}, 5, 'y', -20));
      expect(queue.positionOf(mine, [])).toBe(9);
      // A server of `rare` that never popped has no line yet: the same figure.
      expect(queue.standingOf(mine, [{ ...offer, model: 'rare' }])).toEqual({ position: 9, ahead: [undefined] });
    });
  });

  describe('offer lines', () => {
    it('keeps at most maxOfferLines, dropping the least recently popped, and makes a dropped one again on its next pop', () => {
      const queue = new PromptQueue({ maxOfferLines: 2 });
      const [a, b, c] = ['a', 'b', 'c'].map((model) => ({ ...offer, model }));
      queue.take(c, 0);
      queue.take(a, 0);
      expect(queue.offerLineCount).toBe(2);
      const mine = request({ models: ['a', 'b', 'c'] }, 1, 'me');
      queue.enqueue(request({ models: ['a'] }, 1, 'x', 10));
      const y = request({ models: ['b'] }, 2, 'y', 10);
      queue.enqueue(y);
      queue.enqueue(mine);
      expect(queue.standingOf(mine, [a, b, c])).toEqual({ position: 0, ahead: [1, undefined, 0] });
      expect(queue.take(b, 0).prompt).toBe(y); // makes b's line and drops c's, the least recently popped
      expect(queue.offerLineCount).toBe(2);
      expect(queue.standingOf(mine, [a, b, c])).toEqual({ position: 1, ahead: [1, 1, undefined] });
      expect(queue.take(c, 0).prompt).toBe(mine); // c's line is made again, from the whole queue
      expect(queue.offerLineCount).toBe(2);
    });

    it('drops the lines of offers no active server makes, and makes them again on a pop', () => {
      const queue = new PromptQueue();
      const big = { ...offer, maxContentLength: 4096 };
      queue.take(offer, 0);
      queue.take(big, 0);
      queue.retainOffers([big]);
      expect(queue.offerLineCount).toBe(1);
      const r = request({ maxContentLength: 2048 });
      queue.enqueue(r);
      expect(queue.take(offer, 1)).toEqual({ skipped: { model: 0, max_length: 0, max_content_length: 1 } });
      expect(queue.offerLineCount).toBe(2);
      expect(queue.take(big, 1).prompt).toBe(r);
      queue.retainOffers([]);
      expect(queue.offerLineCount).toBe(0);
    });

    it('serves a heavy requester (more requests than heavyRequester) first through its own line, and forgets it when light', () => {
      const queue = new PromptQueue({ heavyRequester: 2 });
      const other = { ...offer, model: 'other' };
      const anonymous = [1, 2, 3, 4].map((i) => request({ models: i % 2 ? ['other'] : ['nerys'] }, 1, 'anonymous', -i));
      const rich = request({}, 1, 'rich', 100);
      [...anonymous, rich].forEach((r) => queue.enqueue(r));
      const first = new Set(['anonymous']);
      expect(queue.take(offer, 1, first).prompt).toBe(anonymous[1]);
      queue.enqueue(request({ models: ['nerys'] }, 1, 'anonymous', 0)); // joins the requester's line
      expect(queue.take(other, 1, first).prompt).toBe(anonymous[0]);
      expect(queue.take(offer, 1, first).prompt?.priority).toBe(0);
      expect(queue.take(offer, 1, first).prompt).toBe(anonymous[3]);
      expect(queue.take(offer, 1, first).prompt).toBe(rich);
      expect(queue.take(other, 1, first).prompt).toBe(anonymous[2]);
      expect(queue.size).toBe(0);
    });
  });
});

describe('PromptQueue against a plain-list model', () => {
  // Diverse wishes and offers: models from a small pool so that matches, skips of every reason and equal
  // model sets in another order all occur; lengths from a few common values or anything.
  const MODELS = ['a', 'b', 'c', 'd'];
  const length = (common: number[]): fc.Arbitrary<number> => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...common) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 5000 }) });
  const wishesArb: fc.Arbitrary<PromptWishes> = fc.record({
    models: fc.oneof(fc.constant([] as string[]), fc.shuffledSubarray(MODELS, { minLength: 1 })),
    maxLength: length([16, 80, 512]),
    maxContentLength: length([1024, 2048, 4096]),
  });
  const offerArb: fc.Arbitrary<ServerOffer> = fc.record({
    model: fc.constantFrom(...MODELS, 'e'),
    maxLength: length([80, 512]),
    maxContentLength: length([1024, 2048, 4096]),
  });
  const USERS = ['u0', 'u1', 'u2', 'u3'];
  const pick = (flags: boolean[], offers: ServerOffer[]): ServerOffer[] => offers.filter((_, i) => flags[i % flags.length]);

  type Op =
    | { kind: 'create'; wishes: PromptWishes; n: number; user: number; priority: number }
    | { kind: 'take'; offer: number; users: boolean[] }
    | { kind: 'cancel'; pick: number }
    | { kind: 'overdue'; pick: number }
    | { kind: 'finish'; pick: number }
    | { kind: 'position'; pick: number; offers: boolean[] }
    | { kind: 'retain'; offers: boolean[] };

  const flags = fc.array(fc.boolean(), { minLength: 1, maxLength: 6 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('create' as const), wishes: wishesArb, n: fc.integer({ min: 1, max: 3 }), user: fc.nat(USERS.length - 1), priority: fc.integer({ min: -2, max: 2 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('take' as const), offer: fc.nat(), users: fc.array(fc.boolean(), { minLength: USERS.length, maxLength: USERS.length }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('overdue' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('position' as const), pick: fc.nat(), offers: flags }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('retain' as const), offers: flags }) },
  );
  const scenario = fc.record({
    offers: fc.array(offerArb, { minLength: 1, maxLength: 6 }),
    limits: fc.record({ maxOfferLines: fc.integer({ min: 1, max: 6 }), heavyRequester: fc.integer({ min: 1, max: 4 }), deferredCounts: fc.integer({ min: 0, max: 4 }) }),
    ops: fc.array(op, { maxLength: 80, size: 'max' }),
  });

  it('takes, skips and positions exactly as a sort of every waiting slot would', () => {
    fc.assert(
      fc.property(scenario, ({ offers, limits, ops }) => {
        const queue = new PromptQueue(limits);
        const all: WaitingPrompt[] = [];
        const attempts: { prompt: WaitingPrompt; attempt: ProcessingGeneration }[] = [];
        /** Offers with a line, by key, with the pop that last used it (the model of the lines' limit). */
        const lines = new Map<string, number>();
        let pops = 0;
        /** Served first: higher priority, then created earlier (requests are numbered in the order they are made). */
        const before = (p: WaitingPrompt, q: WaitingPrompt): boolean => p.priority > q.priority || (p.priority === q.priority && p.arrival < q.arrival);
        const best = (candidates: WaitingPrompt[]): WaitingPrompt | undefined => candidates.reduce<WaitingPrompt | undefined>((b, p) => (!b || before(p, b) ? p : b), undefined);
        const slotsAhead = (p: WaitingPrompt, waiting: WaitingPrompt[], counted: (q: WaitingPrompt) => boolean): number =>
          waiting.filter((q) => q !== p && before(q, p) && counted(q)).reduce((sum, q) => sum + q.waiting, 0);
        /** The slots ahead of `p` in the line of each offer able to serve it that has a line, the fewest, or the whole queue ahead. */
        const standing = (p: WaitingPrompt, asked: ServerOffer[]): { position: number; ahead: (number | undefined)[] } => {
          const waiting = all.filter((q) => q.waiting > 0);
          const ahead = asked.map((offer) =>
            p.waiting > 0 && skipReason(p.wishes, offer) === null && lines.has(offerKey(offer)) ? slotsAhead(p, waiting, (q) => skipReason(q.wishes, offer) === null) : undefined,
          );
          const known = ahead.filter((a): a is number => a !== undefined);
          return { position: p.waiting === 0 ? 0 : known.length > 0 ? Math.min(...known) : slotsAhead(p, waiting, () => true), ahead };
        };
        let t = 0;
        for (const o of ops) {
          t += 1;
          const waiting = all.filter((p) => p.waiting > 0);
          if (o.kind === 'create') {
            const p = request(o.wishes, o.n, USERS[o.user], o.priority);
            all.push(p);
            queue.enqueue(p);
          } else if (o.kind === 'take') {
            const offer = offers[o.offer % offers.length];
            const key = offerKey(offer);
            if (!lines.has(key) && lines.size >= limits.maxOfferLines) {
              const [oldest] = [...lines.entries()].sort((x, y) => x[1] - y[1])[0];
              lines.delete(oldest);
            }
            lines.set(key, ++pops);
            const priorityUsers = new Set(USERS.filter((_, i) => o.users[i]));
            const servable = waiting.filter((p) => skipReason(p.wishes, offer) === null);
            const expected = best(servable.filter((p) => priorityUsers.has(p.username))) ?? best(servable);
            const match = queue.take(offer, t, priorityUsers);
            if (!expected) {
              const skipped = { model: 0, max_length: 0, max_content_length: 0 };
              for (const p of waiting) skipped[skipReason(p.wishes, offer)!] += 1;
              expect(match).toEqual({ skipped });
            } else {
              expect(match.prompt).toBe(expected);
              const attempt: ProcessingGeneration = { id: `g${t}`, promptId: expected.id, serverId: 's', model: 'm', slot: match.slot!, startedAt: t, deadline: t, state: 'processing' };
              expected.assign(attempt);
              attempts.push({ prompt: expected, attempt });
            }
          } else if (o.kind === 'cancel' && all.length > 0) {
            const p = all[o.pick % all.length];
            p.cancel();
            queue.remove(p);
          } else if ((o.kind === 'overdue' || o.kind === 'finish') && attempts.length > 0) {
            const { prompt, attempt } = attempts[o.pick % attempts.length];
            if (o.kind === 'overdue') prompt.putBackOverdue(attempt);
            else prompt.finishSlot(attempt, 'text', t);
            if (prompt.waiting > 0) queue.enqueue(prompt);
            else queue.remove(prompt);
          } else if (o.kind === 'position' && all.length > 0) {
            const p = all[o.pick % all.length];
            const asked = pick(o.offers, offers);
            const expected = standing(p, asked);
            expect(queue.standingOf(p, asked)).toEqual(expected);
            expect(queue.positionOf(p, asked)).toBe(expected.position);
          } else if (o.kind === 'retain') {
            const active = pick(o.offers, offers);
            queue.retainOffers(active);
            const keep = new Set(active.map(offerKey));
            for (const key of [...lines.keys()]) if (!keep.has(key)) lines.delete(key);
          }
          expect(queue.size).toBe(all.filter((p) => p.waiting > 0).length);
          expect(queue.offerLineCount).toBe(lines.size);
          for (const p of all) {
            if (queue.has(p) !== p.waiting > 0) expect(queue.has(p)).toBe(p.waiting > 0);
            // Every request's standing at every offer, after every step (expect() only on a difference: it is slow).
            const [actual, expected] = [queue.standingOf(p, offers), standing(p, offers)];
            if (JSON.stringify(actual) !== JSON.stringify(expected)) expect(actual).toEqual(expected);
          }
        }
      }),
      { numRuns: 250 },
    );
  });
});
