import { OnApplicationShutdown } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotService } from '../../src/common/persistence/snapshot.service';
import { AppConfig, loadAppConfig } from '../../src/config/app-config';

/**
 * An in-memory store on a fresh DATA_DIR, for the repository contract suites: loaded as the app would
 * (onModuleInit), and disposed as at shutdown (its journal closed), then its directory removed.
 */
export function inMemoryStore<R extends { onModuleInit(): void }>(
  make: (config: AppConfig, snapshots: SnapshotService) => R,
): Promise<{ repository: R; dispose: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kc-store-'));
  const snapshots = { register: () => undefined } as unknown as SnapshotService;
  const repository = make(loadAppConfig({ DATA_DIR: dataDir }), snapshots);
  repository.onModuleInit();
  const dispose = async (): Promise<void> => {
    await (repository as Partial<OnApplicationShutdown>).onApplicationShutdown?.();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return Promise.resolve({ repository, dispose });
}
