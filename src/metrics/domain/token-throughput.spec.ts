import { TokenThroughput } from './token-throughput';

const MINUTE = 60_000;
const T0 = 1_800_000_000_000;

describe('TokenThroughput', () => {
  it('sums the tokens of the last minute and of the last hour', () => {
    const throughput = new TokenThroughput();
    throughput.record(10, T0);
    throughput.record(5, T0 + 30 * MINUTE);
    throughput.record(7, T0 + 59.5 * MINUTE);
    const now = T0 + 59.6 * MINUTE;
    expect(throughput.tokensInLast(MINUTE, now)).toBe(7);
    expect(throughput.tokensInLast(60 * MINUTE, now)).toBe(22);
  });

  it('forgets what is older than an hour, even when a ring slot is reused', () => {
    const throughput = new TokenThroughput();
    throughput.record(10, T0);
    const anHourLater = T0 + 60 * MINUTE;
    expect(throughput.tokensInLast(60 * MINUTE, anHourLater)).toBe(0);
    throughput.record(3, anHourLater);
    expect(throughput.tokensInLast(60 * MINUTE, anHourLater)).toBe(3);
    expect(throughput.tokensInLast(MINUTE, anHourLater + 5 * MINUTE)).toBe(0);
  });

  it('gives 60 per-minute points, oldest first, the last one ending now', () => {
    const throughput = new TokenThroughput();
    const now = T0 + 90 * MINUTE;
    throughput.record(4, now);
    throughput.record(6, now - 10 * MINUTE);
    const points = throughput.perMinute(now);
    expect(points).toHaveLength(60);
    expect(points[59].tokens).toBe(4);
    expect(points[49].tokens).toBe(6);
    expect(points.reduce((sum, p) => sum + p.tokens, 0)).toBe(10);
    expect(points[59].start).toBeLessThanOrEqual(now);
    expect(points[1].start - points[0].start).toBe(MINUTE);
  });
});
