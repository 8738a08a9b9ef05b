import fc from 'fast-check';
import { ProcessingGeneration } from './processing-generation';
import { PromptQueue, ServerOffer, skipReason } from './prompt-queue';
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
    const attempt = { id: 'g1', promptId: a.id, serverId: 's', slot: taken.slot!, startedAt: 1, deadline: 2, state: 'processing' as const };
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
    const attempt = { id: 'g', promptId: r.id, serverId: 's', slot: taken.slot!, startedAt: 1, deadline: 2, state: 'processing' as const };
    r.assign(attempt);
    r.putBackOverdue(attempt);
    queue.enqueue(r);
    expect(queue.has(r)).toBe(true);
    r.finishSlot(attempt, 'late', 3);
    queue.enqueue(r);
    expect(queue.take(offer, 4).prompt).toBeUndefined();
  });

  describe('positionOf', () => {
    it('counts the waiting slots served before the request, in every group its servers can serve', () => {
      const queue = new PromptQueue();
      const first = request({}, 3, 'a', 10);
      const otherModel = request({ models: ['other'] }, 5, 'b', 10);
      const longer = request({ maxLength: 500 }, 2, 'c', 10);
      const mine = request({}, 2, 'me', 0);
      const after = request({}, 4, 'd', -5);
      [first, otherModel, longer, mine, after].forEach((r) => queue.enqueue(r));
      // A server like `offer` (model nerys, max_length 80) serves `first`'s 3 slots before mine;
      // it cannot take otherModel's or longer's, and `after` comes after me.
      expect(queue.positionOf(mine, [offer])).toBe(3);
      // A second kind of server that also takes long requests adds longer's 2 slots.
      expect(queue.positionOf(mine, [offer, { ...offer, maxLength: 1000 }])).toBe(5);
      expect(queue.positionOf(first, [offer])).toBe(0);
      expect(queue.positionOf(after, [offer])).toBe(5);
    });

    it('moves up as slots ahead are served, and is 0 once nothing waits', () => {
      const queue = new PromptQueue();
      const ahead = request({}, 2, 'a', 10);
      const mine = request({}, 1, 'me', 0);
      queue.enqueue(ahead);
      queue.enqueue(mine);
      expect(queue.positionOf(mine, [offer])).toBe(2);
      queue.take(offer, 1);
      expect(queue.positionOf(mine, [offer])).toBe(1);
      queue.take(offer, 1);
      queue.take(offer, 1);
      expect(queue.positionOf(mine, [offer])).toBe(0);
    });

    it('counts only its own group when no server can serve it', () => {
      const queue = new PromptQueue();
      const ahead = request({ models: ['rare'] }, 2, 'a', 10);
      const mine = request({ models: ['rare'] }, 1, 'me', 0);
      queue.enqueue(request({}, 7));
      queue.enqueue(ahead);
      queue.enqueue(mine);
      expect(queue.positionOf(mine, [])).toBe(2);
    });
  });
});

describe('PromptQueue against a plain-list model', () => {
  // A few kinds of wishes and of servers, so groups, skip reasons and equal-model sets in another order all occur.
  const WISHES: PromptWishes[] = [
    { models: [], maxLength: 80, maxContentLength: 1024 },
    { models: ['a'], maxLength: 80, maxContentLength: 1024 },
    { models: ['a', 'b'], maxLength: 200, maxContentLength: 1024 },
    { models: ['b', 'a'], maxLength: 200, maxContentLength: 1024 },
    { models: ['b'], maxLength: 80, maxContentLength: 4096 },
  ];
  const OFFERS: ServerOffer[] = [
    { model: 'a', maxLength: 80, maxContentLength: 1024 },
    { model: 'b', maxLength: 512, maxContentLength: 4096 },
    { model: 'c', maxLength: 512, maxContentLength: 2048 },
  ];
  const USERS = ['u0', 'u1', 'u2', 'u3'];
  const keyOf = (w: PromptWishes): string => `${[...new Set(w.models)].sort().join(',')}|${w.maxLength}|${w.maxContentLength}`;

  type Op =
    | { kind: 'create'; wishes: number; n: number; user: number; priority: number }
    | { kind: 'take'; offer: number; users: boolean[] }
    | { kind: 'cancel'; pick: number }
    | { kind: 'overdue'; pick: number }
    | { kind: 'finish'; pick: number }
    | { kind: 'position'; pick: number; offers: boolean[] };

  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('create' as const), wishes: fc.nat(WISHES.length - 1), n: fc.integer({ min: 1, max: 3 }), user: fc.nat(USERS.length - 1), priority: fc.integer({ min: -2, max: 2 }) }),
    fc.record({ kind: fc.constant('take' as const), offer: fc.nat(OFFERS.length - 1), users: fc.array(fc.boolean(), { minLength: USERS.length, maxLength: USERS.length }) }),
    fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('overdue' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('position' as const), pick: fc.nat(), offers: fc.array(fc.boolean(), { minLength: OFFERS.length, maxLength: OFFERS.length }) }),
  );

  it('takes, skips and positions exactly as a sort of every waiting slot would', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const queue = new PromptQueue();
        const all: WaitingPrompt[] = [];
        const attempts: { prompt: WaitingPrompt; attempt: ProcessingGeneration }[] = [];
        /** Served first: higher priority, then created earlier. */
        const before = (p: WaitingPrompt, q: WaitingPrompt): boolean => p.priority > q.priority || (p.priority === q.priority && all.indexOf(p) < all.indexOf(q));
        const best = (candidates: WaitingPrompt[]): WaitingPrompt | undefined => candidates.reduce<WaitingPrompt | undefined>((b, p) => (!b || before(p, b) ? p : b), undefined);
        let t = 0;
        for (const o of ops) {
          t += 1;
          const waiting = all.filter((p) => p.waiting > 0);
          if (o.kind === 'create') {
            const p = request(WISHES[o.wishes], o.n, USERS[o.user], o.priority);
            all.push(p);
            queue.enqueue(p);
          } else if (o.kind === 'take') {
            const offer = OFFERS[o.offer];
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
              const attempt: ProcessingGeneration = { id: `g${t}`, promptId: expected.id, serverId: 's', slot: match.slot!, startedAt: t, deadline: t, state: 'processing' };
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
            const offers = OFFERS.filter((_, i) => o.offers[i]);
            const counted = (q: WaitingPrompt): boolean => keyOf(q.wishes) === keyOf(p.wishes) || offers.some((offer) => skipReason(q.wishes, offer) === null);
            const expected = p.waiting === 0 ? 0 : waiting.filter((q) => q !== p && counted(q) && before(q, p)).reduce((sum, q) => sum + q.waiting, 0);
            expect(queue.positionOf(p, offers)).toBe(expected);
          }
          expect(queue.size).toBe(all.filter((p) => p.waiting > 0).length);
          for (const p of all) expect(queue.has(p)).toBe(p.waiting > 0);
        }
      }),
      { numRuns: 300 },
    );
  });
});
