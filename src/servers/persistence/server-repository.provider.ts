import { Provider } from '@nestjs/common';
import { SnapshotService } from '../../common/persistence/snapshot.service';
import { RedisConnection } from '../../common/redis/redis-connection';
import { AppConfig } from '../../config/app-config';
import { InMemoryServerRepository } from './in-memory-server.repository';
import { RedisServerRepository } from './redis-server.repository';
import { ServerRepository } from './server.repository';

/** The servers store: in memory (snapshotted to DATA_DIR) by default, in Redis when REDIS_URL is set. */
export const serverRepositoryProvider: Provider = {
  provide: ServerRepository,
  inject: [AppConfig, SnapshotService, { token: RedisConnection, optional: true }],
  useFactory: (config: AppConfig, snapshots: SnapshotService, redis?: RedisConnection): ServerRepository =>
    redis ? new RedisServerRepository(redis) : new InMemoryServerRepository(config, snapshots),
};
