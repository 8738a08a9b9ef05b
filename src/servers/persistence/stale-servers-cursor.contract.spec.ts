import { useTestRedis } from '../../../test/support/redis-server';
import { RedisStaleServersCursor } from './redis-stale-servers-cursor';
import { InMemoryStaleServersCursor } from './stale-servers-cursor';
import { describeStaleServersCursorContract } from './stale-servers-cursor.contract';

// One contract, every adapter of the StaleServersCursor port.

describeStaleServersCursorContract('in memory', () => Promise.resolve(new InMemoryStaleServersCursor()));

const redis = useTestRedis();
describeStaleServersCursorContract('Redis', async () => new RedisStaleServersCursor(await redis.flush()));
