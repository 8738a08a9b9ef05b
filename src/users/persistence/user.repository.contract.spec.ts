import { OnApplicationShutdown } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotService } from '../../common/persistence/snapshot.service';
import { loadAppConfig } from '../../config/app-config';
import { useTestRedis } from '../../../test/support/redis-server';
import { InMemoryUserRepository } from './in-memory-user.repository';
import { RedisUserRepository } from './redis-user.repository';
import { describeUserRepositoryContract } from './user.repository.contract';

// One contract, every adapter of the UserRepository port.

describeUserRepositoryContract('in memory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kc-users-'));
  const snapshots = { register: () => undefined } as unknown as SnapshotService;
  const repository = new InMemoryUserRepository(loadAppConfig({ DATA_DIR: dataDir }), snapshots);
  repository.onModuleInit();
  const dispose = async (): Promise<void> => {
    await (repository as Partial<OnApplicationShutdown>).onApplicationShutdown?.();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return Promise.resolve({ repository, dispose });
});

const redis = useTestRedis();
describeUserRepositoryContract('Redis', async () => ({ repository: new RedisUserRepository(await redis.flush()) }));
