import { INestApplicationContext, NotFoundException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppModule } from '../app.module';
import { ServersService } from '../servers/servers.service';
import { GenerationService } from './generation.service';

const SECOND = 1000;

describe('GenerationService with the scheduled sweep (fake clock)', () => {
  let context: INestApplicationContext;
  let generation: GenerationService;
  let servers: ServersService;
  let dataDir: string;

  beforeEach(async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    dataDir = mkdtempSync(join(tmpdir(), 'kc-unit-'));
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ DATA_DIR: dataDir, SWEEP_INTERVAL_SECONDS: 10, LOG_LEVEL: 'error' })],
    })
      .setLogger({ log: () => undefined, error: () => undefined, warn: () => undefined })
      .compile();
    context = await moduleRef.init();
    generation = context.get(GenerationService);
    servers = context.get(ServersService);
  });

  afterEach(async () => {
    await context.close();
    jest.useRealTimers();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Moves the clock and lets the sweep that fell due run. */
  async function advance(ms: number): Promise<void> {
    await jest.advanceTimersByTimeAsync(ms);
  }

  const checkIn = (name: string) =>
    servers.checkIn({ name, username: 'owner', password: 'pw', model: 'm', maxLength: 80, maxContentLength: 1024 });

  it('expires a request 10 minutes after its last activity, at the next sweep', async () => {
    const request = generation.createRequest({ prompt: 'p' });
    await advance(590 * SECOND);
    expect(generation.getRequest(request.id)).toBe(request);
    await advance(20 * SECOND);
    expect(() => generation.getRequest(request.id)).toThrow(NotFoundException);
  });

  it('does not keep a request alive because its status is read', async () => {
    const request = generation.createRequest({ prompt: 'p' });
    for (let i = 0; i < 5; i++) {
      await advance(100 * SECOND);
      generation.getRequest(request.id);
    }
    await advance(110 * SECOND);
    expect(() => generation.getRequest(request.id)).toThrow(NotFoundException);
  });

  it('counts a pop of one of its slots as activity', async () => {
    const request = generation.createRequest({ prompt: 'p', params: { n: 2 } });
    await advance(500 * SECOND);
    await generation.pop({ username: 'owner', password: 'pw', name: 'alpha', model: 'm' });
    await advance(500 * SECOND);
    expect(generation.getRequest(request.id).processing).toBe(1);
    await advance(110 * SECOND);
    expect(() => generation.getRequest(request.id)).toThrow(NotFoundException);
  });

  it('counts a submit as activity', async () => {
    const request = generation.createRequest({ prompt: 'p', params: { n: 2 } });
    const popped = await generation.pop({ username: 'owner', password: 'pw', name: 'alpha', model: 'm' });
    await advance(500 * SECOND);
    await generation.submit(popped.id as string, 'pw', 'text');
    await advance(500 * SECOND);
    expect(generation.getRequest(request.id).finished).toBe(1);
  });

  it('drops a server from the active list after 5 minutes without a pop, and brings it back on the next', async () => {
    const server = await checkIn('alpha');
    await advance(299 * SECOND);
    expect((await servers.findActive()).map((s) => s.id)).toEqual([server.id]);
    await advance(2 * SECOND);
    expect(await servers.findActive()).toEqual([]);
    expect(await servers.findById(server.id)).toMatchObject({ name: 'alpha' });
    await checkIn('alpha');
    expect((await servers.findActive()).map((s) => s.id)).toEqual([server.id]);
  });

  it('measures a job that took no time at all without dividing by zero', async () => {
    generation.createRequest({ prompt: 'p' });
    const popped = await generation.pop({ username: 'owner', password: 'pw', name: 'alpha', model: 'm' });
    const { reward } = await generation.submit(popped.id as string, 'pw', 'a few words here');
    expect(reward).toBeGreaterThan(0);
    const [server] = await servers.findActive();
    expect(server.requestsFulfilled).toBe(1);
    expect(server.recentJobs[0].seconds).toBeGreaterThan(0);
  });
});
