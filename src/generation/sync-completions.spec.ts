import { BadRequestException, GatewayTimeoutException, ServiceUnavailableException } from '@nestjs/common';
import { RecordingLedger } from '../../test/support/recording-ledger';
import { loadAppConfig } from '../config/app-config';
import { GenerationStore, NewRequest, StartedGeneration } from './persistence/generation.store';
import { InMemoryGenerationStore } from './persistence/in-memory-generation.store';
import { SyncCompletions } from './sync-completions';

/** A store whose onSettled messages can be lost, as between instances. */
class LossyStore extends InMemoryGenerationStore {
  deliver = true;

  override onSettled(listener: (requestId: string) => void): void {
    super.onSettled((id) => {
      if (this.deliver) listener(id);
    });
  }
}

const OFFER = { model: 'm', maxLength: 80, maxContentLength: 1024 };
const RULE = { minMs: 10_000, msPerToken: 0, maxMs: 600_000 };

describe('SyncCompletions', () => {
  let store: LossyStore;
  let completions: SyncCompletions;
  let nextId = 0;

  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    store = new LossyStore(new RecordingLedger());
    completions = new SyncCompletions(store, loadAppConfig({}));
  });
  afterEach(async () => {
    await completions.beforeApplicationShutdown();
    jest.useRealTimers();
  });

  async function enqueue(n = 1): Promise<NewRequest> {
    const request: NewRequest = { id: `r${++nextId}`, prompt: 'p', params: {}, username: 'u', requesterKey: 'u', wishes: { models: [], maxLength: 80, maxContentLength: 1024 }, n, priority: 0, now: 0 };
    await store.enqueue(request, 100);
    return request;
  }

  async function pop(): Promise<StartedGeneration> {
    const taken = await store.takeNextSlot({ offer: OFFER, priorityUsernames: new Set(), serverId: 's', generationId: `g${++nextId}`, deadline: RULE, now: 0 });
    if ('skipped' in taken) throw new Error('nothing to pop');
    return taken;
  }

  const submit = (generation: StartedGeneration, text: string) =>
    store.submit({ generationId: generation.generationId, text, now: 1, tokens: 1, provenServerIds: ['s'] });

  /** Settles `promise` into a plain outcome without waiting for it. */
  function watch<T>(promise: Promise<T>): { outcome?: { value?: T; error?: unknown } } {
    const watched: { outcome?: { value?: T; error?: unknown } } = {};
    promise.then(
      (value) => (watched.outcome = { value }),
      (error: unknown) => (watched.outcome = { error }),
    );
    return watched;
  }

  it('answers the generations as soon as the store says the request is done', async () => {
    const request = await enqueue(2);
    const waiting = watch(completions.waitFor(request.id));
    const [a, b] = [await pop(), await pop()];
    await submit(a, 'one');
    await jest.advanceTimersByTimeAsync(0);
    expect(waiting.outcome).toBeUndefined();
    await submit(b, 'two');
    await jest.advanceTimersByTimeAsync(0);
    expect(waiting.outcome).toEqual({ value: ['one', 'two'] });
    expect(completions.size).toBe(0);
  });

  it('recovers a lost message by re-reading the held requests every second', async () => {
    const request = await enqueue();
    const waiting = watch(completions.waitFor(request.id));
    store.deliver = false;
    await submit(await pop(), 'text');
    await jest.advanceTimersByTimeAsync(SyncCompletions.RECHECK_MS - 1);
    expect(waiting.outcome).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(waiting.outcome).toEqual({ value: ['text'] });
    // Nothing held: no timer left running.
    expect(jest.getTimerCount()).toBe(0);
  });

  it('answers 504 when the request expires first', async () => {
    const request = await enqueue();
    const waiting = watch(completions.waitFor(request.id));
    await store.expireIdle(0, 10);
    await jest.advanceTimersByTimeAsync(0);
    expect(waiting.outcome?.error).toBeInstanceOf(GatewayTimeoutException);
  });

  it('cancels the request when the client goes away, and answers 400', async () => {
    const request = await enqueue(2);
    const disconnected = new AbortController();
    const waiting = watch(completions.waitFor(request.id, disconnected.signal));
    disconnected.abort();
    await jest.advanceTimersByTimeAsync(0);
    expect(waiting.outcome?.error).toBeInstanceOf(BadRequestException);
    await expect(store.findRequest(request.id)).resolves.toMatchObject({ cancelled: true, waiting: 0 });
  });

  it('answers 503 and cancels the held requests at shutdown', async () => {
    const request = await enqueue();
    const waiting = watch(completions.waitFor(request.id));
    await completions.beforeApplicationShutdown();
    await jest.advanceTimersByTimeAsync(0);
    expect(waiting.outcome?.error).toBeInstanceOf(ServiceUnavailableException);
    await expect(store.findRequest(request.id)).resolves.toMatchObject({ cancelled: true });
  });

  it('answers a request cancelled elsewhere with nothing in progress with the generations so far', async () => {
    const request = await enqueue(2);
    const waiting = watch(completions.waitFor(request.id));
    await submit(await pop(), 'one');
    await (store as GenerationStore).cancel(request.id, 2);
    await jest.advanceTimersByTimeAsync(0);
    expect(waiting.outcome).toEqual({ value: ['one'] });
  });
});
