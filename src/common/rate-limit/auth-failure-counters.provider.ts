import { Provider } from '@nestjs/common';
import { RedisConnection } from '../redis/redis-connection';
import { AuthFailureCounters, InMemoryAuthFailureCounters } from './auth-failure-counters';
import { RedisAuthFailureCounters } from './redis-auth-failure-counters';

/** The wrong-password counters: in this process by default, shared in Redis when REDIS_URL is set. */
export const authFailureCountersProvider: Provider = {
  provide: AuthFailureCounters,
  inject: [{ token: RedisConnection, optional: true }],
  useFactory: (redis?: RedisConnection): AuthFailureCounters => (redis ? new RedisAuthFailureCounters(redis) : new InMemoryAuthFailureCounters()),
};
