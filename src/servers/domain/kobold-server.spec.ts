import { describePerformance, isActive, jobMilliseconds, KoboldServer, PERFORMANCE_WINDOW, recordJob, tokensPerSecond } from './kobold-server';
import { aServer } from '../../../test/support/servers';

function server(): KoboldServer {
  return aServer('n', { id: 's', owner: 'o', passwordHash: 'h', createdAt: 0, lastSeenAt: 1000 });
}

describe('KoboldServer', () => {
  it('has no performance figure before its first job', () => {
    expect(tokensPerSecond(server())).toBeNull();
    expect(describePerformance(server())).toBe('no jobs yet');
  });

  it('measures tokens per second over its recent jobs', () => {
    const s = server();
    recordJob(s, { tokens: 30, seconds: 2 });
    recordJob(s, { tokens: 10, seconds: 2 });
    expect(tokensPerSecond(s)).toBe(10);
    expect(describePerformance(s)).toBe('10.0 tokens per second');
    expect(s).toMatchObject({ tokensGenerated: 40, requestsFulfilled: 2 });
  });

  it('never divides by zero: a job faster than a millisecond counts as a millisecond', () => {
    const s = server();
    recordJob(s, { tokens: 5, seconds: 0 });
    expect(tokensPerSecond(s)).toBe(5000);
    expect(Number.isFinite(tokensPerSecond(s))).toBe(true);
  });

  it('keeps only the recent jobs in the figure, and every job in the totals', () => {
    const s = server();
    recordJob(s, { tokens: 1000, seconds: 1 });
    for (let i = 0; i < PERFORMANCE_WINDOW; i++) recordJob(s, { tokens: 1, seconds: 1 });
    expect(tokensPerSecond(s)).toBe(1);
    expect(s.tokensGenerated).toBe(1000 + PERFORMANCE_WINDOW);
  });

  it('times each job in whole milliseconds, so that a store can keep exact sums of its recent jobs as they come and go', () => {
    expect(jobMilliseconds({ tokens: 1, seconds: 1.2344 })).toBe(1234);
    expect(jobMilliseconds({ tokens: 1, seconds: 1.2345 })).toBe(1235);
    expect(jobMilliseconds({ tokens: 1, seconds: 0.0004 })).toBe(1);
    const s = server();
    recordJob(s, { tokens: 7, seconds: 1.2344 });
    recordJob(s, { tokens: 11, seconds: 0.777 });
    // 18 tokens in 2.011 s, not in 2.0114 s.
    expect(tokensPerSecond(s)).toBe((18 * 1000) / 2011);
  });

  it('is active until it has not been seen for the stale time', () => {
    expect(isActive(server(), 1000 + 299_999, 300_000)).toBe(true);
    expect(isActive(server(), 1000 + 300_000, 300_000)).toBe(false);
  });
});
