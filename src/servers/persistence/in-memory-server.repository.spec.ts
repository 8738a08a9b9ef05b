import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotService } from '../../common/persistence/snapshot.service';
import { loadAppConfig } from '../../config/app-config';
import { InMemoryServerRepository } from './in-memory-server.repository';
import { describeServerRepositoryContract } from './server.repository.contract';

describeServerRepositoryContract('in memory', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'kc-servers-'));
  const snapshots = { register: () => undefined } as unknown as SnapshotService;
  const repository = new InMemoryServerRepository(loadAppConfig({ DATA_DIR: dataDir }), snapshots);
  repository.onModuleInit();
  return Promise.resolve({ repository, dispose: () => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })) });
});
