import { setTimeout as delay } from 'node:timers/promises';

export interface BackoffOptions {
  /** First delay, in ms. */
  initialMs: number;
  /** Longest delay, in ms. */
  maxMs: number;
  /** Growth per attempt. */
  factor?: number;
  /** Share of each delay taken off at random (0..1), so many bridges do not retry in step. */
  jitter?: number;
  random?: () => number;
}

/** Exponential back-off: initial, initial*factor, ... capped at max; `reset()` after a success. */
export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next retry, in ms; each call grows the next one. */
  next(): number {
    const { initialMs, maxMs, factor = 2, jitter = 0.2, random = Math.random } = this.options;
    const base = Math.min(maxMs, initialMs * factor ** this.attempt);
    this.attempt += 1;
    return Math.round(base * (1 - jitter * random()));
  }

  /** Retries made since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Waits `ms`; resolves early (to false) when the signal aborts, true when the full time passed. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
