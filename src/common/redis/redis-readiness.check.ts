import { RedisConnection } from './redis-connection';

/**
 * Readiness fails while the shared store does not answer PING within 500 ms (liveness must not use it:
 * an instance without Redis is alive and recovers by itself). Shaped as a readiness check of
 * /health/ready (`name`, `problem()`): RedisModule provides it only when REDIS_URL is set.
 */
export class RedisReadinessCheck {
  readonly name = 'redis';

  constructor(private readonly redis: RedisConnection) {}

  problem(): Promise<string | null> {
    return this.redis.readinessProblem();
  }
}
