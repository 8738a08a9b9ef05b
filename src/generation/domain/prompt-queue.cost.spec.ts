import { PromptQueue, ServerOffer } from './prompt-queue';
import { ServingLine } from './serving-line';
import { PromptWishes, WaitingPrompt } from './waiting-prompt';

/**
 * The complexity claim of PromptQueue, proved by counting (never by timing): with 100,000 waiting
 * requests that each want something of their own (their own models list, their own max_length and
 * max_content_length: 100,000 distinct wishes, which the earlier design kept as 100,000 groups), a pop
 * and a status read touch a number of lines that depends on the servers' offers only, and inside each
 * line a number of requests that grows with log n (each comparison reads two requests' priorities).
 */
const WAITING = 100_000;
const LOG2_N = Math.log2(WAITING);

/** The offers of the servers: three that can serve some requests, one that can serve none. */
const OFFERS: ServerOffer[] = [
  { model: 'model-a', maxLength: 512, maxContentLength: 1 << 20 },
  { model: 'model-b', maxLength: 512, maxContentLength: 1 << 20 },
  { model: 'model-c', maxLength: 80, maxContentLength: 60_000 },
  { model: 'absent', maxLength: 512, maxContentLength: 512 },
];
const LINES = OFFERS.length;

const counts = { wishReads: 0, priorityReads: 0 };

/** Wishes of its own for request `i`, counting how often they are read. */
function ownWishes(i: number): PromptWishes {
  const wishes: PromptWishes = { models: [`own-model-${i}`, ['model-a', 'model-b', 'model-c'][i % 3]], maxLength: 16 + (i % 497), maxContentLength: 1024 + i };
  return new Proxy(wishes, {
    get(target, key, receiver) {
      counts.wishReads += 1;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}

/** A request whose priority counts its reads: every comparison in a line reads two of them. */
function countedRequest(i: number, username: string, wishes = ownWishes(i)): WaitingPrompt {
  const prompt = new WaitingPrompt({ id: `r${i}`, prompt: 'p', params: {}, username, wishes, n: 1 + (i % 2), now: 0, priority: -(i % 7) });
  const priority = prompt.priority;
  Object.defineProperty(prompt, 'priority', {
    get: () => {
      counts.priorityReads += 1;
      return priority;
    },
  });
  return prompt;
}

describe('PromptQueue cost of a pop and a status read with 100,000 distinct wishes, counted', () => {
  let queue: PromptQueue;
  const prompts: WaitingPrompt[] = [];

  beforeAll(() => {
    queue = new PromptQueue();
    // The servers popped once before the requests came: each offer has its line.
    for (const offer of OFFERS) queue.take(offer, 0);
    for (let i = 0; i < WAITING; i++) {
      const prompt = countedRequest(i, `user-${i % 5000}`);
      prompts.push(prompt);
      queue.enqueue(prompt);
    }
    expect(queue.size).toBe(WAITING);
    expect(queue.offerLineCount).toBe(LINES);
  });

  /** Calls to every ServingLine method, wish reads and priority reads while `run` runs. */
  function cost(run: () => void): { lineCalls: number; wishReads: number; priorityReads: number; linesMade: number } {
    const methods = ['first', 'insert', 'remove', 'addWeight', 'slotsAhead', 'forEach'] as const;
    const spies = methods.map((method) => jest.spyOn(ServingLine.prototype, method));
    const made = jest.spyOn(ServingLine, 'fromSorted');
    const before = { ...counts };
    try {
      run();
      return {
        lineCalls: spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0),
        wishReads: counts.wishReads - before.wishReads,
        priorityReads: counts.priorityReads - before.priorityReads,
        linesMade: made.mock.calls.length,
      };
    } finally {
      jest.restoreAllMocks();
    }
  }

  it('answers a pop that finds nothing from one line and three counters, with exact skipped counts', () => {
    let skipped: unknown;
    const spent = cost(() => {
      skipped = queue.take(OFFERS[3], 1).skipped;
    });
    // No request names `absent`: all are skipped for their model.
    expect(skipped).toEqual({ model: WAITING, max_content_length: 0, max_length: 0 });
    expect(spent).toEqual({ lineCalls: 1, wishReads: 0, priorityReads: 0, linesMade: 0 });
  });

  it('counts skips by the first reason exactly, per waiting request', () => {
    // model-c serves max_length ≤ 80 and contexts ≤ 60,000: of the third of requests that name it, those
    // with a longer context are skipped for it, then those with a longer max_length.
    const expected = { model: 0, max_content_length: 0, max_length: 0 };
    for (let i = 0; i < WAITING; i++) {
      if (i % 3 !== 2) expected.model += 1;
      else if (1024 + i > 60_000) expected.max_content_length += 1;
      else if (16 + (i % 497) > 80) expected.max_length += 1;
    }
    const servable = WAITING - expected.model - expected.max_content_length - expected.max_length;
    const probe = new PromptQueue();
    probe.take(OFFERS[2], 0);
    for (let i = 0; i < WAITING; i++) if (!(i % 3 === 2 && 1024 + i <= 60_000 && 16 + (i % 497) <= 80)) probe.enqueue(new WaitingPrompt({ id: `s${i}`, prompt: 'p', params: {}, username: 'u', wishes: ownWishes(i), n: 1, now: 0 }));
    expect(servable).toBeGreaterThan(0);
    expect(probe.take(OFFERS[2], 1).skipped).toEqual(expected);
  });

  it('touches each line at most once or twice per pop that finds work, and O(log n) requests in each, pop after pop', () => {
    for (let pop = 0; pop < 300; pop++) {
      const offer = OFFERS[pop % 3];
      let found = false;
      const spent = cost(() => {
        found = queue.take(offer, 1).prompt !== undefined;
      });
      expect(found).toBe(true);
      expect(spent.linesMade).toBe(0);
      // The first request of the offer's line; then the started request's new slot count, or its removal
      // (a membership check and the removal), in the whole-queue line and in each offer line that can serve it.
      expect(spent.lineCalls).toBeLessThanOrEqual(1 + 2 * (1 + LINES));
      // One check of the started request against each offer: three fields each.
      expect(spent.wishReads).toBeLessThanOrEqual(3 * LINES);
      // Each line call walks one path of the tree (a removal two): about log2(n) comparisons of two priorities.
      expect(spent.priorityReads).toBeLessThanOrEqual(2 * spent.lineCalls * 4 * LOG2_N);
    }
  });

  it('tells the lines of a request with many slots its new count once, not at each pop of one of its slots', () => {
    const queue = new PromptQueue();
    for (const offer of OFFERS) queue.take(offer, 0);
    const many = new WaitingPrompt({ id: 'many', prompt: 'p', params: {}, username: 'u', wishes: ownWishes(0), n: 100, now: 0 });
    const behind = new WaitingPrompt({ id: 'behind', prompt: 'p', params: {}, username: 'u', wishes: ownWishes(3), n: 1, now: 0 });
    queue.enqueue(many);
    queue.enqueue(behind);
    for (let pop = 1; pop < 100; pop++) {
      const spent = cost(() => expect(queue.take(OFFERS[0], 1).prompt).toBe(many));
      // The first request of the line, remembered; the slot count is told later (deferred), so the
      // started request is checked against the offers once, at its first pop, and then not at all.
      expect(spent.lineCalls).toBe(1);
      expect(spent.wishReads).toBeLessThanOrEqual(pop === 1 ? 3 * LINES : 0);
      // The position behind it is exact all the same: its slots not yet started.
      expect(queue.standingOf(behind, [OFFERS[0]]).position).toBe(100 - pop);
    }
    expect(queue.take(OFFERS[0], 1).prompt).toBe(many);
    expect(queue.has(many)).toBe(false);
    expect(queue.standingOf(behind, [OFFERS[0]]).position).toBe(0);
  });

  it('reads a queue position from the line of each offer able to serve the request: O(offers × log n)', () => {
    for (const prompt of prompts.slice(60_000, 60_100)) {
      if (!queue.has(prompt)) continue;
      let position = -1;
      const spent = cost(() => {
        position = queue.standingOf(prompt, OFFERS).position;
      });
      expect(position).toBeGreaterThanOrEqual(0);
      expect(spent.linesMade).toBe(0);
      expect(spent.lineCalls).toBeLessThanOrEqual(LINES);
      expect(spent.wishReads).toBeLessThanOrEqual(3 * LINES);
      expect(spent.priorityReads).toBeLessThanOrEqual(2 * LINES * 4 * LOG2_N);
    }
  });

  it('serves priority usernames at a cost that grows with their number, not with the queue', () => {
    const priority = new Set(['user-3', 'user-7']);
    const spent = cost(() => {
      expect(queue.take(OFFERS[0], 1, priority).prompt?.username).toMatch(/^user-[37]$/);
    });
    // Each named requester's list (20 requests here, at most `heavyRequester`) is scanned: one check each.
    expect(spent.wishReads).toBeLessThanOrEqual(3 * (LINES + 2 * 64));
    expect(spent.lineCalls).toBeLessThanOrEqual(1 + 2 * (1 + LINES));
  });

  it('gives a heavy requester its own line per offer once, then serves it first in O(log n)', () => {
    const heavy = 'anonymous';
    for (let i = 0; i < 1000; i++) queue.enqueue(countedRequest(WAITING + i, heavy));
    const first = new Set([heavy]);
    const making = cost(() => expect(queue.take(OFFERS[1], 1, first).prompt?.username).toBe(heavy));
    expect(making.linesMade).toBe(1);
    for (let pop = 0; pop < 50; pop++) {
      const spent = cost(() => expect(queue.take(OFFERS[1], 1, first).prompt?.username).toBe(heavy));
      expect(spent.linesMade).toBe(0);
      // its own line's first request, then the started request in the whole-queue line, the offer lines and its own line
      expect(spent.lineCalls).toBeLessThanOrEqual(1 + 2 * (2 + LINES));
      expect(spent.priorityReads).toBeLessThanOrEqual(2 * spent.lineCalls * 4 * LOG2_N);
    }
  });

  it('makes a line only for an offer it has none for: one pass over the queue, bounded by the line limit', () => {
    const newcomer: ServerOffer = { model: 'model-a', maxLength: 200, maxContentLength: 4096 };
    const first = cost(() => queue.take(newcomer, 1));
    expect(first.linesMade).toBe(1);
    const again = cost(() => queue.take(newcomer, 1));
    expect(again.linesMade).toBe(0);
    queue.retainOffers(OFFERS);
    expect(queue.offerLineCount).toBe(LINES);
  });
});
