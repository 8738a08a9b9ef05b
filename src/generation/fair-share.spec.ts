import { INestApplicationContext } from '@nestjs/common';
import { startAppContext, TestContext } from '../../test/support/app-context';
import { UsersService } from '../users/users.service';
import { fairSharePriority } from './fair-share';
import { GenerationService } from './generation.service';

const CAP = 100;
const AGING = 1;

describe('Fair share aging (fake clock)', () => {
  let context: INestApplicationContext;
  let generation: GenerationService;
  let app: TestContext;

  beforeEach(async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    app = await startAppContext({
      FAIR_SHARE_BALANCE_CAP: CAP,
      FAIR_SHARE_AGING_PER_SECOND: AGING,
      PROMPT_EXPIRY_SECONDS: 3600,
      MAX_WAITING_REQUESTS_PER_USER: 10_000,
    });
    context = app.context;
    generation = context.get(GenerationService);
    // The contributor gave 500 tokens to the consumer: balances +500 and −500, beyond the cap.
    await context.get(UsersService).recordGeneration('consumer', 'contributor', 500);
  });

  afterEach(async () => {
    await app.close();
    jest.useRealTimers();
  });

  it(`serves a consumer's request within 2 × cap ÷ aging seconds (${(2 * CAP) / AGING} s) while contributors keep the only server busy`, async () => {
    const consumerRequest = await generation.createRequest({ prompt: 'consumer', username: 'consumer' }, 'a');
    const createdAt = Date.now();
    let servedAfter: number | undefined;
    for (let second = 1; second <= 300 && servedAfter === undefined; second++) {
      await jest.advanceTimersByTimeAsync(1000);
      // Every second a new contributor request arrives, and the one server takes one slot.
      await generation.createRequest({ prompt: `contributor ${second}`, username: 'contributor' }, 'b');
      const popped = await generation.pop({ username: 'worker', password: 'pw', name: 'only-server', model: 'm' });
      if (popped.id === null) throw new Error('the server found nothing to do');
      await generation.submit(popped.id, 'pw', 'x');
      if (popped.payload.prompt === 'consumer') servedAfter = (Date.now() - createdAt) / 1000;
    }
    const bound = (2 * CAP) / AGING;
    // Until the bound, every newer contributor request outranks it; right after, it outranks them.
    expect(servedAfter).toBeGreaterThan(bound - 2);
    expect(servedAfter).toBeLessThanOrEqual(bound + 1);
    await expect(generation.getRequest(consumerRequest.id)).resolves.toMatchObject({ done: true });
  });
});

describe('fairSharePriority', () => {
  const settings = { FAIR_SHARE_BALANCE_CAP: 100, FAIR_SHARE_AGING_PER_SECOND: 2 };

  it('is the balance clamped to ±cap, less the aging rate times the creation time', () => {
    expect(fairSharePriority(50, 0, settings)).toBe(50);
    expect(fairSharePriority(500, 0, settings)).toBe(100);
    expect(fairSharePriority(-500, 0, settings)).toBe(-100);
    // A request made 10 s later stands 20 lower: the older one has aged 10 s more.
    expect(fairSharePriority(50, 10_000, settings)).toBe(30);
  });
});
