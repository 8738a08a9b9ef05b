import { OrderedSet } from '@js-sdsl/ordered-set';
import { PromptQueue, ServerOffer } from './prompt-queue';
import { PromptWishes, WaitingPrompt } from './waiting-prompt';

/**
 * The complexity claim of PromptQueue, proved by counting (never by timing): with 100,000 waiting
 * requests in a few groups, a pop reads each group's wishes once and calls the per-group ordered sets
 * a constant number of times (each such call is O(log n) by the data structure), so its cost does not
 * grow with the number of waiting requests.
 */
const WAITING = 100_000;
const MODELS = ['model-a', 'model-b', 'model-c'];

/** Wishes that count how often they are read; one shared object per group of requests. */
function countingWishes(wishes: PromptWishes, reads: { count: number }): PromptWishes {
  return new Proxy(wishes, {
    get(target, key, receiver) {
      reads.count += 1;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}

describe('PromptQueue cost of a pop, counted', () => {
  const reads = { count: 0 };
  const groups = [
    countingWishes({ models: [], maxLength: 80, maxContentLength: 1024 }, reads),
    ...MODELS.map((model) => countingWishes({ models: [model], maxLength: 80, maxContentLength: 1024 }, reads)),
  ];
  let queue: PromptQueue;

  beforeAll(() => {
    queue = new PromptQueue();
    for (let i = 0; i < WAITING; i++) {
      queue.enqueue(
        new WaitingPrompt({ id: `r${i}`, prompt: 'p', params: {}, username: `user-${i % 50}`, wishes: groups[i % groups.length], n: 1, now: 0 }),
      );
    }
    expect(queue.size).toBe(WAITING);
  });

  afterEach(() => jest.restoreAllMocks());

  function countCalls(run: () => void): { wishReads: number; setCalls: number } {
    const methods = ['front', 'back', 'begin', 'end', 'forEach', 'find', 'lowerBound', 'upperBound', 'eraseElementByKey', 'insert', 'getElementByPos'] as const;
    const spies = methods.map((method) => jest.spyOn(OrderedSet.prototype as unknown as Record<string, () => unknown>, method));
    const calls = (): number => spies.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
    const [readsBefore, callsBefore] = [reads.count, calls()];
    run();
    return { wishReads: reads.count - readsBefore, setCalls: calls() - callsBefore };
  }

  it('reads each group once and touches no waiting request when nothing matches', () => {
    const absent: ServerOffer = { model: 'absent', maxLength: 512, maxContentLength: 512 };
    let skipped: unknown;
    const cost = countCalls(() => {
      skipped = queue.take(absent, 1).skipped;
    });
    expect(skipped).toEqual({ model: (WAITING * MODELS.length) / groups.length, max_content_length: WAITING / groups.length, max_length: 0 });
    expect(cost.setCalls).toBe(0);
    expect(cost.wishReads).toBeLessThanOrEqual(3 * groups.length);
  });

  it('does a constant number of ordered-set operations per pop that finds work, pop after pop', () => {
    const server: ServerOffer = { model: 'model-b', maxLength: 512, maxContentLength: 2048 };
    for (let pop = 0; pop < 500; pop++) {
      let found = false;
      const cost = countCalls(() => {
        found = queue.take(server, 1).prompt !== undefined;
      });
      expect(found).toBe(true);
      expect(cost.wishReads).toBeLessThanOrEqual(3 * groups.length);
      // the head of each servable group (2), the taken slot erased from its group's line (1), and a look
      // at the entry after it, to know whether its request still waits (lowerBound and end: 2); its
      // requester's heap is an array (O(log k) swaps): the same five calls for the 1st pop and the 500th
      expect(cost.setCalls).toBe(5);
    }
    expect(queue.size).toBe(WAITING - 500);
  });

  it('serves priority usernames at a cost that grows with their number, not with the queue', () => {
    const server: ServerOffer = { model: 'model-c', maxLength: 512, maxContentLength: 2048 };
    const priority = new Set(['user-3', 'user-7']);
    const cost = countCalls(() => {
      expect(queue.take(server, 1, priority).prompt?.username).toMatch(/^user-[37]$/);
    });
    expect(cost.setCalls).toBeLessThanOrEqual(2 * priority.size + 5);
  });
});
