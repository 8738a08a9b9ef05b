import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../../config/app-config';

/** A store that keeps its state in memory and can write it to its snapshot file. */
export interface Snapshotting {
  readonly snapshotName: string;
  /** Writes the snapshot when something changed since the last write. */
  flushSnapshot(): void;
  /** At shutdown, when the snapshot could not be written: writes what its journal still holds in memory. */
  flushJournalSync?(): void;
}

/**
 * Writes every registered in-memory store to DATA_DIR every SNAPSHOT_INTERVAL_SECONDS (when changed)
 * and once more at shutdown, and knows whether what the stores hold is safely on disk.
 */
@Injectable()
export class SnapshotService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SnapshotService.name);
  private readonly stores: Snapshotting[] = [];
  /** The last flush error of each store that has not been written since; empty when all are saved. */
  private readonly failures = new Map<string, string>();
  /** Problems other parts of the persistence report (a journal that could not be written), by source. */
  private readonly reported = new Map<string, string>();

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
   * A part of the persistence (a journal) reports that it cannot write (`problem`), or that it can again
   * (null). Logged once per change, and part of persistenceProblem() meanwhile.
   */
  reportProblem(source: string, problem: string | null): void {
    if (problem === null) {
      if (this.reported.delete(source)) this.logger.log(`The ${source} is written again`);
      return;
    }
    if (this.reported.get(source) !== problem) this.logger.error(`${problem}; acknowledged changes are at risk until the next snapshot is written`);
    this.reported.set(source, problem);
  }

  /**
   * Why what the stores hold is not safely on disk right now (the last write of a snapshot failed, or a
   * journal cannot be written), or null when everything acknowledged is saved. Readiness reports it.
   */
  persistenceProblem(): string | null {
    const problems = [...[...this.failures].map(([name, message]) => `the ${name} snapshot could not be written: ${message}`), ...this.reported.values()];
    return problems.length === 0 ? null : problems.join('; ');
  }

  /**
   * The final write. If a snapshot cannot be written, the journals write what they still hold, and the
   * shutdown fails (a non-zero exit code) so that whoever stopped the server learns that data may be lost.
   */
  onApplicationShutdown(): void {
    this.flushAll();
    const unsaved = this.stores.filter((store) => this.failures.has(store.snapshotName));
    for (const store of unsaved) store.flushJournalSync?.();
    if (unsaved.length > 0) {
      process.exitCode = 1;
      throw new Error(`The final snapshot could not be written (${this.persistenceProblem()}): changes since the last good write may be lost`);
    }
  }
}
