import { inMemoryStore } from '../../../test/support/in-memory-store';
import { useTestRedis } from '../../../test/support/redis-server';
import { InMemoryServerRepository } from './in-memory-server.repository';
import { RedisServerRepository } from './redis-server.repository';
import { describeServerRepositoryContract } from './server.repository.contract';

// One contract, every adapter of the ServerRepository port.

describeServerRepositoryContract('in memory', () => inMemoryStore((config, snapshots) => new InMemoryServerRepository(config, snapshots)));

const redis = useTestRedis();
describeServerRepositoryContract('Redis', async () => ({ repository: new RedisServerRepository(await redis.flush()) }));
