/** How a pop's deadline is worked out: now + clamp(wished max_length × msPerToken, minMs, maxMs), rounded up to a millisecond. */
export interface DeadlineRule {
  minMs: number;
  /** Milliseconds the server is given per wished token (safety factor ÷ its measured speed); 0 when unmeasured. */
  msPerToken: number;
  /** Never later than this after now (the request's expiry, as a pop is activity). */
  maxMs: number;
}

export interface DeadlineSettings {
  GENERATION_TIMEOUT_MIN_SECONDS: number;
  GENERATION_TIMEOUT_SAFETY_FACTOR: number;
  PROMPT_EXPIRY_SECONDS: number;
}

/**
 * The rule for a server measured at `tokensPerSecond` (null or 0: unmeasured): long enough to generate
 * the wished tokens at that speed with the safety factor; never sooner than the minimum, never after
 * the request would expire.
 */
export function deadlineRuleFor(tokensPerSecond: number | null, settings: DeadlineSettings): DeadlineRule {
  return {
    minMs: settings.GENERATION_TIMEOUT_MIN_SECONDS * 1000,
    msPerToken: tokensPerSecond ? (settings.GENERATION_TIMEOUT_SAFETY_FACTOR * 1000) / tokensPerSecond : 0,
    maxMs: settings.PROMPT_EXPIRY_SECONDS * 1000,
  };
}

/**
 * When a slot of `maxLength` wished tokens started at `now` goes back to waiting under `rule`: after a
 * whole number of milliseconds (rounded up), so that a store keeps it as a plain integer.
 */
export function deadlineOf(rule: DeadlineRule, maxLength: number, now: number): number {
  return now + Math.ceil(Math.min(Math.max(rule.minMs, maxLength * rule.msPerToken), rule.maxMs));
}
