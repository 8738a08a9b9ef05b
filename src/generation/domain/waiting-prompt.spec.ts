import { ProcessingGeneration } from './processing-generation';
import { WaitingPrompt, WishesInterner } from './waiting-prompt';

function request(n: number): WaitingPrompt {
  return new WaitingPrompt({ id: 'r', prompt: 'p', params: { temperature: 0.5 }, username: 'u', wishes: { models: [], maxLength: 80, maxContentLength: 1024 }, n, now: 0 });
}

let nextId = 0;
function start(prompt: WaitingPrompt, now = 1): ProcessingGeneration {
  const slot = prompt.startSlot(now);
  const generation: ProcessingGeneration = { id: `g${nextId++}`, promptId: prompt.id, serverId: 's', model: 'm', slot, startedAt: now, deadline: now + 10, state: 'processing' };
  prompt.assign(generation);
  return generation;
}

describe('WaitingPrompt slots', () => {
  it('counts waiting, processing and finished slots', () => {
    const r = request(2);
    const a = start(r);
    expect(r).toMatchObject({ waiting: 1, processing: 1, finished: 0, done: false });
    const b = start(r);
    expect(r.finishSlot(a, 'A', 2)).toBeNull();
    expect(r.finishSlot(b, 'B', 3)).toBeNull();
    expect(r).toMatchObject({ waiting: 0, processing: 0, finished: 2, done: true, generations: ['A', 'B'] });
  });

  it('remembers who made each text, in the order of the texts, and not who was refused', () => {
    const r = request(3);
    const a = start(r);
    const b = start(r);
    b.serverId = 'v2-worker';
    b.model = 'm2';
    expect(r.finishSlot(b, 'B', 2)).toBeNull();
    expect(r.finishSlot(b, 'B again', 3)).toBe('already-submitted');
    expect(r.finishSlot(a, 'A', 4)).toBeNull();
    expect(r.generations).toEqual(['B', 'A']);
    expect(r.generationAuthors).toEqual([{ serverId: 'v2-worker', model: 'm2' }, { serverId: 's', model: 'm' }]);
  });

  it('refuses a second submit of the same generation', () => {
    const r = request(1);
    const a = start(r);
    r.finishSlot(a, 'A', 2);
    expect(r.finishSlot(a, 'A again', 3)).toBe('already-submitted');
    expect(r.generations).toEqual(['A']);
  });

  it('puts an overdue slot back to waiting, ahead of untouched slots', () => {
    const r = request(2);
    const a = start(r);
    expect(r.putBackOverdue(a)).toBe(true);
    expect(r).toMatchObject({ waiting: 2, processing: 0, restarted: 1 });
    const redo = start(r);
    expect(redo.slot).toBe(a.slot);
    expect(start(r).slot.index).toBe(1);
  });

  it('takes a late text while the put-back slot still waits, and it is no longer waiting', () => {
    const r = request(1);
    const a = start(r);
    r.putBackOverdue(a);
    expect(r.waiting).toBe(1);
    expect(r.finishSlot(a, 'late', 5)).toBeNull();
    expect(r).toMatchObject({ waiting: 0, processing: 0, finished: 1, done: true, generations: ['late'] });
  });

  it('takes a late text while the slot is being redone; the redo is then superseded', () => {
    const r = request(1);
    const a = start(r);
    r.putBackOverdue(a);
    const redo = start(r);
    expect(r.finishSlot(a, 'late', 5)).toBeNull();
    expect(r).toMatchObject({ processing: 0, done: true });
    expect(r.finishSlot(redo, 'redo', 6)).toBe('slot-complete');
    expect(r.generations).toEqual(['late']);
  });

  it('refuses the late text once the redo completed the slot', () => {
    const r = request(1);
    const a = start(r);
    r.putBackOverdue(a);
    const redo = start(r);
    expect(r.finishSlot(redo, 'redo', 5)).toBeNull();
    expect(r.finishSlot(a, 'late', 6)).toBe('slot-complete');
    expect(r.generations).toEqual(['redo']);
  });

  it('does not put back a slot twice for the same overdue attempt, nor one a redo holds', () => {
    const r = request(1);
    const a = start(r);
    expect(r.putBackOverdue(a)).toBe(true);
    expect(r.putBackOverdue(a)).toBe(false);
    const redo = start(r);
    expect(r.putBackOverdue(redo)).toBe(true);
    expect(r).toMatchObject({ waiting: 1, processing: 0, restarted: 2 });
  });

  it('on cancel drops waiting slots, lets slots in progress finish, and drops overdue ones', () => {
    const r = request(4);
    const a = start(r);
    const b = start(r);
    const c = start(r);
    r.putBackOverdue(c);
    r.cancel();
    expect(r).toMatchObject({ waiting: 0, processing: 2, cancelled: true, done: false });
    expect(r.finishSlot(a, 'A', 2)).toBeNull();
    expect(r.putBackOverdue(b)).toBe(false);
    expect(r).toMatchObject({ waiting: 0, processing: 0, done: true, generations: ['A'] });
  });

  it('builds the worker payload from the params, with the prompt and n: 1', () => {
    expect(request(3).payload()).toEqual({ temperature: 0.5, prompt: 'p', n: 1 });
  });
});

describe('WishesInterner', () => {
  it('hands out one frozen object per distinct wishes, models in the order given', () => {
    const interner = new WishesInterner();
    const a = interner.intern({ models: ['x', 'y'], maxLength: 80, maxContentLength: 1024 });
    expect(interner.intern({ models: ['x', 'y'], maxLength: 80, maxContentLength: 1024 })).toBe(a);
    expect(a).toEqual({ models: ['x', 'y'], maxLength: 80, maxContentLength: 1024 });
    expect(Object.isFrozen(a) && Object.isFrozen(a.models)).toBe(true);
    expect(interner.intern({ models: ['y', 'x'], maxLength: 80, maxContentLength: 1024 })).not.toBe(a);
    expect(interner.intern({ models: ['x', 'y'], maxLength: 81, maxContentLength: 1024 })).not.toBe(a);
    expect(interner.intern({ models: ['x', 'y'], maxLength: 80, maxContentLength: 1025 })).not.toBe(a);
  });

  it('starts over past its limit, still answering equal wishes', () => {
    const interner = new WishesInterner(2);
    const a = interner.intern({ models: [], maxLength: 1, maxContentLength: 1 });
    interner.intern({ models: [], maxLength: 2, maxContentLength: 1 });
    interner.intern({ models: [], maxLength: 3, maxContentLength: 1 });
    const again = interner.intern({ models: [], maxLength: 1, maxContentLength: 1 });
    expect(again).not.toBe(a);
    expect(again).toEqual(a);
  });
});
