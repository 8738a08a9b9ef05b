import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotService } from '../../common/persistence/snapshot.service';
import { loadAppConfig } from '../../config/app-config';
import { InMemoryUserRepository } from './in-memory-user.repository';
import { describeUserRepositoryContract } from './user.repository.contract';

describeUserRepositoryContract('in memory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kc-users-'));
  const snapshots = { register: () => undefined } as unknown as SnapshotService;
  const repository = new InMemoryUserRepository(loadAppConfig({ DATA_DIR: dataDir }), snapshots);
  repository.onModuleInit();
  return Promise.resolve({ repository, dispose: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })) });
});
