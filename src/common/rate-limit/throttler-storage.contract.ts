import { ThrottlerStorage } from '@nestjs/throttler';

export interface ThrottlerStorageFixture {
  storage: ThrottlerStorage;
  dispose?: () => Promise<void>;
}

const T0 = Date.UTC(2026, 10, 25, 0, 0, 0);

/**
 * How @nestjs/throttler's storage counts, checked on any storage with the same clock: only Date is faked
 * (the Redis client's own timers and I/O stay real), and every storage must read its time from Date.now().
 */
export function describeThrottlerStorageContract(adapter: string, create: () => Promise<ThrottlerStorageFixture>): void {
  describe(`ThrottlerStorage contract: ${adapter}`, () => {
    let fixture: ThrottlerStorageFixture;
    let storage: ThrottlerStorage;

    beforeEach(async () => {
      jest.useFakeTimers({ now: T0, doNotFake: ['nextTick', 'setImmediate', 'clearImmediate', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'queueMicrotask', 'hrtime', 'performance'] });
      fixture = await create();
      storage = fixture.storage;
    });
    afterEach(async () => {
      await fixture.dispose?.();
      jest.useRealTimers();
    });

    const at = (ms: number): void => jest.setSystemTime(T0 + ms);

    it('counts hits up to the limit, then blocks for blockDuration without counting, then starts afresh', async () => {
      for (let i = 1; i <= 3; i++) {
        await expect(storage.increment('k', 60_000, 3, 30_000, 'overall')).resolves.toEqual({ totalHits: i, timeToExpire: 60, isBlocked: false, timeToBlockExpire: expect.any(Number) });
      }
      await expect(storage.increment('k', 60_000, 3, 30_000, 'overall')).resolves.toEqual({ totalHits: 4, timeToExpire: 60, isBlocked: true, timeToBlockExpire: 30 });
      at(10_000);
      await expect(storage.increment('k', 60_000, 3, 30_000, 'overall')).resolves.toEqual({ totalHits: 4, timeToExpire: 50, isBlocked: true, timeToBlockExpire: 20 });
      at(30_000);
      // The block is over: the hits are forgotten and this one counts.
      await expect(storage.increment('k', 60_000, 3, 30_000, 'overall')).resolves.toMatchObject({ totalHits: 1, isBlocked: false, timeToExpire: 30 });
    });

    it('forgets each hit ttl after it was made (a sliding window), and opens a new window after the last one', async () => {
      await storage.increment('k', 1_000, 5, 1_000, 'pop');
      at(600);
      await storage.increment('k', 1_000, 5, 1_000, 'pop');
      at(1_001);
      await expect(storage.increment('k', 1_000, 5, 1_000, 'pop')).resolves.toEqual({ totalHits: 2, timeToExpire: 1, isBlocked: false, timeToBlockExpire: expect.any(Number) });
      at(1_700);
      await expect(storage.increment('k', 1_000, 5, 1_000, 'pop')).resolves.toMatchObject({ totalHits: 2, isBlocked: false });
    });

    // (Our generateKey puts the throttler's name in every key, so one key never serves two throttlers.)
    it('keeps keys apart', async () => {
      await storage.increment('create:a', 60_000, 1, 60_000, 'create');
      await expect(storage.increment('create:a', 60_000, 1, 60_000, 'create')).resolves.toMatchObject({ isBlocked: true });
      await expect(storage.increment('create:b', 60_000, 1, 60_000, 'create')).resolves.toMatchObject({ totalHits: 1, isBlocked: false });
      await expect(storage.increment('status:a', 60_000, 1, 60_000, 'status')).resolves.toMatchObject({ totalHits: 1, isBlocked: false });
    });

    it('refuses a hit over the limit without blocking when blockDuration is 0', async () => {
      await storage.increment('k', 1_000, 2, 0, 'pop');
      await storage.increment('k', 1_000, 2, 0, 'pop');
      await expect(storage.increment('k', 1_000, 2, 0, 'pop')).resolves.toEqual({ totalHits: 3, timeToExpire: 1, isBlocked: true, timeToBlockExpire: 1 });
      at(1_000);
      await expect(storage.increment('k', 1_000, 2, 0, 'pop')).resolves.toMatchObject({ totalHits: 1, isBlocked: false });
    });

    it('lets exactly `limit` of many concurrent hits through', async () => {
      const answers = await Promise.all(Array.from({ length: 40 }, () => storage.increment('k', 60_000, 10, 60_000, 'overall')));
      expect(answers.filter((a) => !a.isBlocked)).toHaveLength(10);
    });
  });
}
