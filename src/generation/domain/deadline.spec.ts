import { deadlineOf, deadlineRuleFor } from './deadline';

const SETTINGS = { GENERATION_TIMEOUT_MIN_SECONDS: 120, GENERATION_TIMEOUT_SAFETY_FACTOR: 3, PROMPT_EXPIRY_SECONDS: 600 };

describe('the deadline rule', () => {
  it('gives an unmeasured server the minimum', () => {
    expect(deadlineRuleFor(null, SETTINGS)).toEqual({ minMs: 120_000, msPerToken: 0, maxMs: 600_000 });
    expect(deadlineOf(deadlineRuleFor(null, SETTINGS), 512, 1000)).toBe(121_000);
  });

  it('gives a measured server the wished tokens at its speed with the safety factor, between the minimum and the expiry', () => {
    const slow = deadlineRuleFor(1, SETTINGS); // 3 s per token
    expect(deadlineOf(slow, 100, 0)).toBe(300_000);
    expect(deadlineOf(slow, 10, 0)).toBe(120_000);
    expect(deadlineOf(slow, 500, 0)).toBe(600_000);
  });

  it('waits whole milliseconds: the wait is rounded up', () => {
    // 7 tokens per second: 428.57... ms per token, so 10 tokens take 4,285.7 ms.
    const rule = deadlineRuleFor(7, { ...SETTINGS, GENERATION_TIMEOUT_MIN_SECONDS: 1 });
    expect(deadlineOf(rule, 10, 1_000)).toBe(1_000 + 4_286);
    expect(deadlineOf(rule, 1, 0.5)).toBe(0.5 + 1_000);
  });
});
