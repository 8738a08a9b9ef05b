import { inMemoryStore } from '../../../test/support/in-memory-store';
import { useTestRedis } from '../../../test/support/redis-server';
import { InMemoryUserRepository } from './in-memory-user.repository';
import { RedisUserRepository } from './redis-user.repository';
import { describeUserRepositoryContract } from './user.repository.contract';

// One contract, every adapter of the UserRepository port.

describeUserRepositoryContract('in memory', () => inMemoryStore((config, snapshots) => new InMemoryUserRepository(config, snapshots)));

const redis = useTestRedis();
describeUserRepositoryContract('Redis', async () => ({ repository: new RedisUserRepository(await redis.flush()) }));
