import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../../config/app-config';

/** A store that keeps its state in memory and can write it to its snapshot file. */
export interface Snapshotting {
  readonly snapshotName: string;
  /** Writes the snapshot when something changed since the last write. */
  flushSnapshot(): void;
}

/**
 * Writes every registered in-memory store to DATA_DIR every SNAPSHOT_INTERVAL_SECONDS (when changed)
 * and once more at shutdown.
 */
@Injectable()
export class SnapshotService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SnapshotService.name);
  private readonly stores: Snapshotting[] = [];

  constructor(
    private readonly config: AppConfig,
    private readonly scheduler: SchedulerRegistry,
  ) {}

  register(store: Snapshotting): void {
    this.stores.push(store);
  }

  onModuleInit(): void {
    const timer = setInterval(() => this.flushAll(), this.config.SNAPSHOT_INTERVAL_SECONDS * 1000);
    timer.unref();
    this.scheduler.addInterval('snapshot', timer);
  }

  flushAll(): void {
    for (const store of this.stores) {
      try {
        store.flushSnapshot();
      } catch (error) {
        // Keep serving: the data is still in memory and the next flush tries again.
        this.logger.error(`Could not write the ${store.snapshotName} snapshot: ${(error as Error).message}`);
      }
    }
  }

  onApplicationShutdown(): void {
    this.flushAll();
  }
}
