const HOUR_MS = 3_600_000;

/**
 * How many new server names each client address may still register: `perHour` at most, refilled
 * continuously (a token bucket of `perHour` tokens refilled over an hour), so a burst of `perHour`
 * is allowed and then one more every hour ÷ `perHour`. `perHour` 0 means unlimited. Pure: no clock
 * of its own, no Nest.
 */
export class RegistrationBudget {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly perHour: number) {}

  /** Milliseconds until `address` may register again: 0 when it may now. */
  waitMs(address: string, now: number): number {
    if (this.perHour === 0) return 0;
    const tokens = this.tokens(address, now);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * HOUR_MS) / this.perHour);
  }

  /** Counts one registration by `address`. */
  spend(address: string, now: number): void {
    if (this.perHour === 0) return;
    this.buckets.set(address, { tokens: this.tokens(address, now) - 1, at: now });
  }

  /** Forgets addresses whose budget is full again (run by the sweep, so the map does not grow forever). */
  prune(now: number): void {
    for (const address of this.buckets.keys()) if (this.tokens(address, now) >= this.perHour) this.buckets.delete(address);
  }

  get trackedAddresses(): number {
    return this.buckets.size;
  }

  private tokens(address: string, now: number): number {
    const bucket = this.buckets.get(address);
    if (!bucket) return this.perHour;
    return Math.min(this.perHour, bucket.tokens + ((now - bucket.at) * this.perHour) / HOUR_MS);
  }
}
