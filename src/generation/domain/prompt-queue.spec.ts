import { PromptQueue, ServerOffer, skipReason } from './prompt-queue';
import { PromptWishes, WaitingPrompt } from './waiting-prompt';

let nextId = 0;
function request(wishes: Partial<PromptWishes> = {}, n = 1): WaitingPrompt {
  return new WaitingPrompt({
    id: `r${nextId++}`,
    prompt: 'p',
    params: {},
    username: 'u',
    wishes: { models: [], maxLength: 80, maxContentLength: 1024, ...wishes },
    n,
    now: 0,
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
    expect(queue.take(offer, 1).prompt).toBe(a);
    // a's slot is handed back (its server vanished): it is older than b, so it goes first again.
    a.processing -= 1;
    a.waiting += 1;
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
});
