import { OnApplicationShutdown } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotService } from '../../common/persistence/snapshot.service';
import { loadAppConfig } from '../../config/app-config';
import { useTestRedis } from '../../../test/support/redis-server';
import { InMemoryServerRepository } from './in-memory-server.repository';
import { RedisServerRepository } from './redis-server.repository';
import { describeServerRepositoryContract } from './server.repository.contract';

// One contract, every adapter of the ServerRepository port.

describeServerRepositoryContract('in memory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kc-servers-'));
  const snapshots = { register: () => undefined } as unknown as SnapshotService;
  const repository = new InMemoryServerRepository(loadAppConfig({ DATA_DIR: dataDir }), snapshots);
  repository.onModuleInit();
  const dispose = async (): Promise<void> => {
    await (repository as Partial<OnApplicationShutdown>).onApplicationShutdown?.();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return Promise.resolve({ repository, dispose });
});

const redis = useTestRedis();
describeServerRepositoryContract('Redis', async () => ({ repository: new RedisServerRepository(await redis.flush()) }));
