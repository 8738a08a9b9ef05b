import fc from 'fast-check';
import { QueueItem, servedFirst, ServingLine } from './serving-line';
import { WaitingPrompt } from './waiting-prompt';

const prompt = new WaitingPrompt({ id: 'r', prompt: 'p', params: {}, username: 'u', wishes: { models: [], maxLength: 80, maxContentLength: 1024 }, n: 1, now: 0 });

function item(priority: number, arrival: number, weight: number): QueueItem {
  return { prompt, weight, priority, arrival, userIndex: 0, deferredIndex: -1 };
}

/**
 * The line against a plain sorted list, with enough requests that leaves and inner nodes split, merge
 * and empty (32 entries per node): inserts and removes in any order, new slot counts, the slots ahead of
 * every request, the first request and the order.
 */
describe('ServingLine against a sorted list', () => {
  type Op = { kind: 'insert'; priority: number; weight: number } | { kind: 'remove'; pick: number } | { kind: 'weight'; pick: number; delta: number } | { kind: 'absent'; pick: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('insert' as const), priority: fc.integer({ min: -3, max: 3 }), weight: fc.integer({ min: 1, max: 5 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('weight' as const), pick: fc.nat(), delta: fc.integer({ min: -2, max: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('absent' as const), pick: fc.nat() }) },
  );

  function check(line: ServingLine, model: QueueItem[], probes: number): void {
    expect(line.size).toBe(model.length);
    expect(line.slots).toBe(model.reduce((sum, i) => sum + i.weight, 0));
    expect(line.first()).toBe(model[0]);
    const order: QueueItem[] = [];
    line.forEach((i) => order.push(i));
    if (order.length !== model.length || order.some((i, k) => i !== model[k])) expect(order).toEqual(model);
    let ahead = 0;
    const step = Math.max(1, Math.floor(model.length / probes));
    for (let k = 0; k < model.length; k++) {
      if (k % step === 0 && line.slotsAhead(model[k]) !== ahead) expect(line.slotsAhead(model[k])).toBe(ahead);
      ahead += model[k].weight;
    }
  }

  it('keeps order, sizes and slots ahead exactly as a sorted list, through splits and merges', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.array(op, { minLength: 200, maxLength: 1500 }), (initial, ops) => {
        let arrival = 0;
        const model: QueueItem[] = [];
        for (let k = 0; k < initial; k++) model.push(item(0, arrival++, 1 + (k % 3)));
        const line = ServingLine.fromSorted(model);
        const outside = item(9, -1, 1);
        for (const o of ops) {
          if (o.kind === 'insert') {
            const added = item(o.priority, arrival++, o.weight);
            line.insert(added);
            model.push(added);
            model.sort(servedFirst);
          } else if (o.kind === 'remove' && model.length > 0) {
            const [removed] = model.splice(o.pick % model.length, 1);
            expect(line.remove(removed)).toBe(true);
            expect(line.remove(removed)).toBe(false);
          } else if (o.kind === 'weight' && model.length > 0) {
            const changed = model[o.pick % model.length];
            const delta = Math.max(o.delta, 1 - changed.weight);
            line.addWeight(changed, delta);
            changed.weight += delta;
          } else if (o.kind === 'absent') {
            expect(line.slotsAhead(outside)).toBeUndefined();
            expect(line.remove(outside)).toBe(false);
            expect(() => line.addWeight(outside, 1)).toThrow();
          }
        }
        check(line, model, 50);
        // Emptied completely, then used again.
        for (const i of [...model]) expect(line.remove(i)).toBe(true);
        model.length = 0;
        check(line, model, 1);
        const again = item(0, arrival, 2);
        line.insert(again);
        check(line, [again], 1);
      }),
      { numRuns: 60 },
    );
  });

  it('builds a large line from sorted requests and answers every position', () => {
    const model = Array.from({ length: 5000 }, (_, k) => item(-(k % 2), k, 1 + (k % 4))).sort(servedFirst);
    const line = ServingLine.fromSorted(model);
    check(line, model, model.length);
    for (let k = 0; k < 5000; k += 3) expect(line.remove(model[k])).toBe(true);
    check(
      line,
      model.filter((_, k) => k % 3 !== 0),
      2000,
    );
  });
});
