import { INestApplicationContext, NotFoundException, UnauthorizedException } from '@nestjs/common';
import { anotherServersService, startAppContext, TestContext } from '../../test/support/app-context';
import { AppConfig } from '../config/app-config';
import { ClusterMetrics } from '../metrics/cluster-metrics.service';
import { PasswordHasher } from '../servers/domain/password-hasher';
import { ServersService } from '../servers/servers.service';
import { FairShare } from './fair-share';
import { SyncCompletions } from './sync-completions';
import { GenerationService } from './generation.service';
import { GenerationStore } from './persistence/generation.store';

const SECOND = 1000;

describe('GenerationService with the scheduled sweep (fake clock)', () => {
  let context: INestApplicationContext;
  let generation: GenerationService;
  let servers: ServersService;
  let app: TestContext;

  beforeEach(async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    app = await startAppContext({ SWEEP_INTERVAL_SECONDS: 10 });
    context = app.context;
    generation = context.get(GenerationService);
    servers = context.get(ServersService);
  });

  afterEach(async () => {
    await app.close();
    jest.useRealTimers();
  });

  /** Moves the clock and lets the sweep that fell due run. */
  async function advance(ms: number): Promise<void> {
    await jest.advanceTimersByTimeAsync(ms);
  }

  const checkIn = (name: string) =>
    servers.checkIn({ name, username: 'owner', password: 'pw', model: 'm', maxLength: 80, maxContentLength: 1024, clientAddress: () => '127.0.0.1' });

  it('expires a request 10 minutes after its last activity, at the next sweep', async () => {
    const request = await generation.createRequest({ prompt: 'p' });
    await advance(590 * SECOND);
    await expect(generation.getRequest(request.id)).resolves.toEqual(request);
    await advance(20 * SECOND);
    await expect(generation.getRequest(request.id)).rejects.toThrow(NotFoundException);
  });

  it('does not keep a request alive because its status is read', async () => {
    const request = await generation.createRequest({ prompt: 'p' });
    for (let i = 0; i < 5; i++) {
      await advance(100 * SECOND);
      await generation.getRequestStanding(request.id);
    }
    await advance(110 * SECOND);
    await expect(generation.getRequest(request.id)).rejects.toThrow(NotFoundException);
  });

  it('counts a pop of one of its slots as activity', async () => {
    const request = await generation.createRequest({ prompt: 'p', params: { n: 2 } });
    await advance(500 * SECOND);
    await generation.pop({ username: 'owner', password: 'pw', name: 'alpha', model: 'm' });
    await advance(500 * SECOND);
    // Still there (its deadline passed meanwhile, so the slot is waiting again).
    await expect(generation.getRequest(request.id)).resolves.toMatchObject({ waiting: 2, restarted: 1 });
    await advance(110 * SECOND);
    await expect(generation.getRequest(request.id)).rejects.toThrow(NotFoundException);
  });

  it('counts a submit as activity', async () => {
    const request = await generation.createRequest({ prompt: 'p', params: { n: 2 } });
    const popped = await generation.pop({ username: 'owner', password: 'pw', name: 'alpha', model: 'm' });
    await advance(500 * SECOND);
    await generation.submit(popped.id as string, 'pw', 'text');
    await advance(500 * SECOND);
    await expect(generation.getRequest(request.id)).resolves.toMatchObject({ generations: ['text'] });
  });

  it('drops a server from the active list after 5 minutes without a pop, and brings it back on the next', async () => {
    const server = await checkIn('alpha');
    await advance(299 * SECOND);
    expect((await servers.findActive()).map((s) => s.id)).toEqual([server.id]);
    await advance(2 * SECOND);
    expect(await servers.findActive()).toEqual([]);
    expect(await servers.getById(server.id)).toMatchObject({ name: 'alpha' });
    await checkIn('alpha');
    expect((await servers.findActive()).map((s) => s.id)).toEqual([server.id]);
  });

  const pop = (name = 'alpha') => generation.pop({ username: 'owner', password: 'pw', name, model: 'm', max_length: 512 });

  it('puts a generation back to waiting when its server misses the minimum deadline (120 s)', async () => {
    const request = await generation.createRequest({ prompt: 'p', params: { max_length: 80 } });
    await pop();
    await advance(110 * SECOND);
    await expect(generation.getRequest(request.id)).resolves.toMatchObject({ waiting: 0, processing: 1, restarted: 0 });
    await advance(20 * SECOND);
    await expect(generation.getRequest(request.id)).resolves.toMatchObject({ waiting: 1, processing: 0, restarted: 1 });
    const redo = await pop('beta');
    expect(redo.id).toEqual(expect.any(String));
  });

  it('gives a slow server a deadline from its measured speed and the wished length', async () => {
    // Measure alpha at 1 token per second: 10 tokens in 10 s.
    await generation.createRequest({ prompt: 'p', params: { max_length: 10 } });
    const first = await pop();
    await advance(10 * SECOND);
    await generation.submit(first.id as string, 'pw', 'x'.repeat(10).split('').join(' '));
    const [server] = await servers.findActive();
    const speed = server.recentJobs[0].tokens / server.recentJobs[0].seconds;
    // 100 tokens at that speed with the safety factor 3: 300 s / speed, well beyond the 120 s minimum.
    const request = await generation.createRequest({ prompt: 'p', params: { max_length: 100 } });
    await pop();
    const deadlineSeconds = (100 / speed) * 3;
    expect(deadlineSeconds).toBeGreaterThan(200);
    await advance((deadlineSeconds - 15) * SECOND);
    await expect(generation.getRequest(request.id)).resolves.toMatchObject({ restarted: 0 });
    await advance(30 * SECOND);
    await expect(generation.getRequest(request.id)).resolves.toMatchObject({ restarted: 1 });
  });

  it('never sets a deadline beyond the request expiry', async () => {
    await generation.createRequest({ prompt: 'p', params: { max_length: 10 } });
    const first = await pop();
    await advance(100 * SECOND);
    await generation.submit(first.id as string, 'pw', 'x');
    // alpha now measures about 0.01 tokens per second: 500 tokens would take days.
    await generation.createRequest({ prompt: 'p', params: { max_length: 500 } });
    const popped = await pop();
    const processing = await context.get(GenerationStore).findGeneration(popped.id as string);
    expect(processing?.deadline).toBe(Date.now() + 600 * SECOND);
  });

  it('measures a job that took no time at all without dividing by zero', async () => {
    await generation.createRequest({ prompt: 'p' });
    const popped = await generation.pop({ username: 'owner', password: 'pw', name: 'alpha', model: 'm' });
    const { reward } = await generation.submit(popped.id as string, 'pw', 'a few words here');
    expect(reward).toBeGreaterThan(0);
    const [server] = await servers.findActive();
    expect(server.requestsFulfilled).toBe(1);
    expect(server.recentJobs[0].seconds).toBeGreaterThan(0);
  });

  it('gives the place in line and the wait of the kind of server that reaches the request first', async () => {
    // Two kinds of server, popped before anything waited: big at 100 tokens/s, small at 10 tokens/s.
    for (const [model, tokens] of [
      ['big', 100],
      ['small', 10],
    ] as const) {
      const popped = await generation.pop({ username: 'owner', password: 'pw', name: `${model}-server`, model, max_length: 80 });
      expect(popped.id).toBeNull();
      const [server] = (await servers.findActive()).filter((s) => s.model === model);
      await servers.recordJob(server.id, { tokens, seconds: 1 });
    }
    await generation.createRequest({ prompt: 'small only', models: ['small'], params: { n: 2 } }, 'a');
    await generation.createRequest({ prompt: 'big only', models: ['big'], params: { n: 6 } }, 'b');
    const mine = await generation.createRequest({ prompt: 'mine', models: ['big', 'small'], params: { max_length: 80 } }, 'c');
    // 2 slots ahead in small's line, 6 in big's: the position is the fewest. Big gets through its 6 and
    // mine in (6 + 1) × 80 / 100 = 5.6 s, small through its 2 and mine in (2 + 1) × 80 / 10 = 24 s.
    expect(await generation.getRequestStanding(mine.id)).toMatchObject({ queuePosition: 2, waitTime: 6, isPossible: true });
  });

  it('has the sweep drop the queue lines of offers no active server makes', async () => {
    const retain = jest.spyOn(context.get(GenerationStore), 'retainOffers');
    await pop();
    await advance(10 * SECOND);
    expect(retain).toHaveBeenLastCalledWith([expect.objectContaining({ model: 'm', maxLength: 512, maxContentLength: 2048 })]);
    await advance(300 * SECOND);
    expect(retain).toHaveBeenLastCalledWith([]);
  });
});

describe('GenerationService: the proof of the server by password, on pops and submits', () => {
  let app: TestContext;
  let generation: GenerationService;
  let servers: ServersService;
  let store: GenerationStore;

  beforeEach(async () => {
    app = await startAppContext();
    generation = app.context.get(GenerationService);
    servers = app.context.get(ServersService);
    store = app.context.get(GenerationStore);
  });
  afterEach(() => app.close());

  const pop = (name: string, password: string) => generation.pop({ username: 'owner', password, name, model: 'm' }, () => '10.0.0.1');

  async function popped(name: string, password: string): Promise<string> {
    await generation.createRequest({ prompt: 'p' });
    const job = await pop(name, password);
    if (job.id === null) throw new Error('nothing popped');
    return job.id;
  }

  it('needs no password check, and one store step, once this instance saw the password proven for the server', async () => {
    const first = await popped('alpha', 'pw-a');
    const authenticate = jest.spyOn(servers, 'authenticate');
    const submit = jest.spyOn(store, 'submit');
    const findGeneration = jest.spyOn(store, 'findGeneration');
    await expect(generation.submit(first, 'pw-a', 'one two')).resolves.toEqual({ reward: expect.any(Number) });
    const second = await popped('alpha', 'pw-a');
    await expect(generation.submit(second, 'pw-a', 'three')).resolves.toEqual({ reward: expect.any(Number) });
    expect(authenticate).not.toHaveBeenCalled();
    expect(findGeneration).not.toHaveBeenCalled();
    expect(submit).toHaveBeenCalledTimes(2);
  });

  it('checks the password once, then remembers it, when this instance has not seen it proven (another instance took the pop)', async () => {
    const id = await popped('alpha', 'pw-a');
    const [alpha] = await servers.findActive();
    jest.spyOn(servers, 'serversProvenBy').mockReturnValueOnce([]);
    const authenticate = jest.spyOn(servers, 'authenticate');
    await expect(generation.submit(id, 'pw-a', 'text')).resolves.toMatchObject({ reward: 1 });
    expect(authenticate).toHaveBeenCalledTimes(1);
    expect(authenticate).toHaveBeenCalledWith(alpha.id, 'pw-a', expect.any(Function));
    await expect(store.findRequest((await store.findGeneration(id))?.requestId ?? '')).resolves.toMatchObject({ generations: ['text'], done: true });
    expect(servers.serversProvenBy('pw-a')).toEqual([alpha.id]);
  });

  it('answers 401 for a wrong password, and changes nothing', async () => {
    const id = await popped('alpha', 'pw-a');
    await expect(generation.submit(id, 'wrong', 'forged')).rejects.toThrow(UnauthorizedException);
    await expect(store.findGeneration(id)).resolves.toMatchObject({ state: 'processing' });
    await expect(generation.submit(id, 'pw-a', 'real')).resolves.toMatchObject({ reward: 1 });
  });

  it('does not take a password proven for server A as proof for server B, even when A and B share an owner', async () => {
    await popped('alpha', 'pw-a');
    await pop('beta', 'pw-b');
    const ofBeta = await popped('beta', 'pw-b');
    const [alpha] = (await servers.findActive()).filter((s) => s.name === 'alpha');
    expect(servers.serversProvenBy('pw-a')).toEqual([alpha.id]);
    await expect(generation.submit(ofBeta, 'pw-a', 'forged')).rejects.toThrow(UnauthorizedException);
    await expect(store.findGeneration(ofBeta)).resolves.toMatchObject({ state: 'processing' });
    expect(servers.serversProvenBy('pw-a')).toEqual([alpha.id]);
  });

  it('answers 401 when the server is deleted between the password check and the submit', async () => {
    const id = await popped('alpha', 'pw-a');
    jest.spyOn(servers, 'serversProvenBy').mockReturnValueOnce([]);
    const authenticate = servers.authenticate.bind(servers);
    jest.spyOn(servers, 'authenticate').mockImplementationOnce(async (serverId, password, address) => {
      const server = await authenticate(serverId, password, address);
      await servers.deleteById(serverId);
      return server;
    });
    await expect(generation.submit(id, 'pw-a', 'text')).rejects.toThrow(UnauthorizedException);
    await expect(store.findGeneration(id)).resolves.toMatchObject({ state: 'processing' });
  });

  const popThrough = (service: GenerationService, name: string, password: string, username = 'owner') =>
    service.pop({ username, password, name, model: 'm' }, () => '10.0.0.1');

  /** Another instance over the same stores (as two processes on one Redis): its own GenerationService and ServersService, so its own password memory. */
  const anotherInstance = (): GenerationService => {
    const get = <T>(token: abstract new (...args: never[]) => T): T => app.context.get(token as never);
    return new GenerationService(store, anotherServersService(app.context), get(FairShare), get(SyncCompletions), get(AppConfig), get(ClusterMetrics));
  };

  it('makes one store step (popFor) and no scrypt once the password is verified: the first pop verifies it (here: registers the name)', async () => {
    await generation.createRequest({ prompt: 'p', params: { n: 2 } });
    const popFor = jest.spyOn(store, 'popFor');
    const checkIn = jest.spyOn(servers, 'checkIn');
    await expect(popThrough(generation, 'alpha', 'pw')).resolves.toMatchObject({ id: expect.any(String) });
    expect(checkIn).toHaveBeenCalledTimes(1);
    expect(popFor).toHaveBeenCalledTimes(1);
    checkIn.mockClear();
    popFor.mockClear();
    const scrypt = jest.spyOn(app.context.get(PasswordHasher), 'verify');
    await expect(popThrough(generation, 'alpha', 'pw')).resolves.toMatchObject({ id: expect.any(String) });
    await expect(popThrough(generation, 'alpha', 'pw')).resolves.toMatchObject({ id: null });
    expect(popFor).toHaveBeenCalledTimes(2);
    expect(checkIn).not.toHaveBeenCalled();
    expect(scrypt).not.toHaveBeenCalled();
  });

  it('answers 401 to a wrong password, whatever this instance remembers, and hands nothing out', async () => {
    const request = await generation.createRequest({ prompt: 'p' });
    await popThrough(generation, 'alpha', 'pw');
    await generation.createRequest({ prompt: 'p' });
    await expect(popThrough(generation, 'alpha', 'wrong', 'mallory')).rejects.toThrow(UnauthorizedException);
    await expect(generation.getRequest(request.id)).resolves.toMatchObject({ processing: 1 });
    await expect(servers.findActive()).resolves.toEqual([expect.objectContaining({ name: 'alpha', owner: 'owner' })]);
  });

  it('does not let a password remembered for a deleted server pop the new server that took its name on another instance', async () => {
    const other = anotherInstance();
    await popThrough(generation, 'alpha', 'pw');
    await popThrough(other, 'alpha', 'pw'); // the other instance remembers 'pw' for alpha too
    const [old] = await servers.findActive();
    await servers.deleteById(old.id);
    await popThrough(generation, 'alpha', 'new-pw', 'new-owner');
    const request = await generation.createRequest({ prompt: 'p' });
    await expect(popThrough(other, 'alpha', 'pw')).rejects.toThrow(UnauthorizedException);
    await expect(generation.getRequest(request.id)).resolves.toMatchObject({ waiting: 1, processing: 0 });
    await expect(popThrough(other, 'alpha', 'new-pw', 'new-owner')).resolves.toMatchObject({ id: expect.any(String) });
    await expect(servers.findActive()).resolves.toEqual([expect.objectContaining({ name: 'alpha', owner: 'new-owner' })]);
  });
});
