import { ExecutionContext, SetMetadata } from '@nestjs/common';

/**
 * Which rate limit a route counts against. Routes without a bucket count only against the overall
 * per-IP limit; `pop` is limited per server name; `worker` routes (submit) only by their own checks;
 * `unlimited` routes (health checks, metrics: orchestrators and Prometheus call them on a schedule) by none;
 * `poll` routes (the v2 API's status, which its clients poll every second or faster) per IP per second only.
 */
export type RateLimitBucketName = 'create' | 'status' | 'pop' | 'worker' | 'poll' | 'unlimited';

const RATE_LIMIT_BUCKET = 'rate-limit-bucket';

export const RateLimitBucket = (bucket: RateLimitBucketName): MethodDecorator => SetMetadata(RATE_LIMIT_BUCKET, bucket);

export function bucketOf(context: ExecutionContext): RateLimitBucketName | undefined {
  return Reflect.getMetadata(RATE_LIMIT_BUCKET, context.getHandler()) as RateLimitBucketName | undefined;
}
