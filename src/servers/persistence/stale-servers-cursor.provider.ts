import { Provider } from '@nestjs/common';
import { RedisConnection } from '../../common/redis/redis-connection';
import { RedisStaleServersCursor } from './redis-stale-servers-cursor';
import { InMemoryStaleServersCursor, StaleServersCursor } from './stale-servers-cursor';

/** Where the stale notices have got to: in this process by default, shared in Redis when REDIS_URL is set. */
export const staleServersCursorProvider: Provider = {
  provide: StaleServersCursor,
  inject: [{ token: RedisConnection, optional: true }],
  useFactory: (redis?: RedisConnection): StaleServersCursor => (redis ? new RedisStaleServersCursor(redis) : new InMemoryStaleServersCursor()),
};
