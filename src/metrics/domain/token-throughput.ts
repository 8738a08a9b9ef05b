/** Length of one bucket, in ms. */
const BUCKET_MS = 10_000;
/** Buckets kept: one hour. */
const BUCKETS = 360;
/** Buckets per point of the per-minute series. */
const BUCKETS_PER_MINUTE = 60_000 / BUCKET_MS;

/**
 * Tokens generated over the last hour, in 10-second buckets of a fixed ring: recording is one addition,
 * memory is constant whatever the traffic, and old buckets are cleared as time moves on.
 */
export class TokenThroughput {
  private readonly tokens = new Float64Array(BUCKETS);
  /** The bucket number (time ÷ BUCKET_MS) that each ring slot holds. */
  private readonly bucketOf = new Float64Array(BUCKETS).fill(-1);

  record(tokens: number, now: number): void {
    const bucket = Math.floor(now / BUCKET_MS);
    const slot = bucket % BUCKETS;
    if (this.bucketOf[slot] !== bucket) {
      this.bucketOf[slot] = bucket;
      this.tokens[slot] = 0;
    }
    this.tokens[slot] += tokens;
  }

  /** Tokens in the last `ms` (rounded to whole buckets, the current one included), at most an hour. */
  tokensInLast(ms: number, now: number): number {
    const current = Math.floor(now / BUCKET_MS);
    const count = Math.min(BUCKETS, Math.ceil(ms / BUCKET_MS));
    let total = 0;
    for (let bucket = current - count + 1; bucket <= current; bucket++) total += this.tokensIn(bucket);
    return total;
  }

  /** Tokens per minute over the last hour, oldest first; the last point is the minute that ends now. */
  perMinute(now: number): { start: number; tokens: number }[] {
    const current = Math.floor(now / BUCKET_MS);
    const points: { start: number; tokens: number }[] = [];
    for (let minute = BUCKETS / BUCKETS_PER_MINUTE - 1; minute >= 0; minute--) {
      const last = current - minute * BUCKETS_PER_MINUTE;
      let tokens = 0;
      for (let bucket = last - BUCKETS_PER_MINUTE + 1; bucket <= last; bucket++) tokens += this.tokensIn(bucket);
      points.push({ start: (last - BUCKETS_PER_MINUTE + 1) * BUCKET_MS, tokens });
    }
    return points;
  }

  private tokensIn(bucket: number): number {
    const slot = ((bucket % BUCKETS) + BUCKETS) % BUCKETS;
    return this.bucketOf[slot] === bucket ? this.tokens[slot] : 0;
  }
}
