import { AppConfig } from '../../config/app-config';
import { Journal } from './journal';
import { SnapshotFile } from './snapshot-file';
import { SnapshotService } from './snapshot.service';

/** What every snapshot holds besides its entries: the last journal entry it includes. */
export interface JournaledSnapshot {
  journalSeq?: number;
}

/**
 * The two files of one in-memory store in DATA_DIR: its snapshot (`<name>.json`) and its journal
 * (`<name>.journal`), the changes since that snapshot. Loads them in order at start, writes the snapshot
 * and then empties the journal, and reports journal failures to the SnapshotService (readiness).
 */
export class StoreFiles<S extends JournaledSnapshot, E extends object> {
  readonly snapshot: SnapshotFile<S>;
  readonly journal: Journal<E>;

  constructor(config: AppConfig, snapshots: SnapshotService, name: string, checkSnapshot: (data: unknown) => string | null, checkEntry: (entry: Record<string, unknown>) => string | null) {
    this.snapshot = new SnapshotFile<S>(config.DATA_DIR, `${name}.json`, checkSnapshot);
    this.journal = new Journal<E>({
      dataDir: config.DATA_DIR,
      fileName: `${name}.journal`,
      validate: checkEntry,
      commitMs: config.JOURNAL_COMMIT_MS,
      onProblem: (problem) => snapshots.reportProblem(`${name} journal`, problem),
    });
  }

  /**
   * Reads the snapshot (`restore`, when there is one), replays the journal entries it does not hold yet
   * (`apply`, oldest first), and opens the journal for appending. Throws CorruptSnapshotError on bad content.
   */
  load(restore: (snapshot: S) => void, apply: (entry: E) => void): void {
    const snapshot = this.snapshot.read();
    if (snapshot) restore(snapshot);
    const replayed = this.journal.replay(snapshot?.journalSeq ?? 0);
    for (const entry of replayed) apply(entry);
    // What was replayed goes into the next snapshot, which then empties the journal.
    if (replayed.length > 0) this.snapshot.markChanged();
    this.journal.open();
  }

  /** Writes the snapshot if something changed (`current` gets the journal position it holds), then empties the journal. */
  flush(current: (journalSeq: number) => S): void {
    if (this.snapshot.flush(() => current(this.journal.lastSeq))) this.journal.reset();
  }

  /** Records a change: appended to the journal (group commit) and noted for the next snapshot. */
  record(entry: E): void {
    this.journal.append(entry);
    this.snapshot.markChanged();
  }

  /** Records a change and resolves once it is on disk; rejects when it cannot be written. */
  recordDurably(entry: E): Promise<void> {
    this.snapshot.markChanged();
    return this.journal.appendDurable(entry);
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
