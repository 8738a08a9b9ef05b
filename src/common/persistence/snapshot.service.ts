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
  /** The last flush error of each store that has not been written since; empty when all are saved. */
  private readonly failures = new Map<string, string>();

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
        this.failures.delete(store.snapshotName);
      } catch (error) {
        // Keep serving: the data is still in memory and the next flush tries again.
        const message = (error as Error).message;
        this.failures.set(store.snapshotName, message);
        this.logger.error(`Could not write the ${store.snapshotName} snapshot: ${message}`);
      }
    }
  }

  /**
   * Why what the stores hold is not safely on disk right now (the last write of a snapshot failed), or
   * null when every store's last write succeeded. Readiness reports it.
   */
  persistenceProblem(): string | null {
    if (this.failures.size === 0) return null;
    return [...this.failures].map(([name, message]) => `the ${name} snapshot could not be written: ${message}`).join('; ');
  }

  onApplicationShutdown(): void {
    this.flushAll();
  }
}
