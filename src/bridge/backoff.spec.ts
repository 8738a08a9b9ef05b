import { Backoff, sleep } from './backoff';

describe('Backoff', () => {
  it('doubles from the initial delay up to the cap, and starts over after reset', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoff.attempts).toBe(6);
    backoff.reset();
    expect(backoff.next()).toBe(100);
  });

  it('takes up to the jitter share off each delay', () => {
    expect(new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2, random: () => 1 }).next()).toBe(800);
    expect(new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.2, random: () => 0 }).next()).toBe(1000);
  });
});

describe('sleep', () => {
  it('resolves true after the delay', async () => {
    await expect(sleep(5)).resolves.toBe(true);
  });

  it('resolves false at once when aborted', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = sleep(10_000, controller.signal);
    controller.abort();
    await expect(pending).resolves.toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(sleep(10_000, controller.signal)).resolves.toBe(false);
  });
});
