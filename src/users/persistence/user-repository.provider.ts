import { Provider } from '@nestjs/common';
import { SnapshotService } from '../../common/persistence/snapshot.service';
import { RedisConnection } from '../../common/redis/redis-connection';
import { AppConfig } from '../../config/app-config';
import { InMemoryUserRepository } from './in-memory-user.repository';
import { RedisUserRepository } from './redis-user.repository';
import { UserRepository } from './user.repository';

/** The users store: in memory (snapshotted to DATA_DIR) by default, in Redis when REDIS_URL is set. */
export const userRepositoryProvider: Provider = {
  provide: UserRepository,
  inject: [AppConfig, SnapshotService, { token: RedisConnection, optional: true }],
  useFactory: (config: AppConfig, snapshots: SnapshotService, redis?: RedisConnection): UserRepository =>
    redis ? new RedisUserRepository(redis) : new InMemoryUserRepository(config, snapshots),
};
