import { closeSync, fdatasync, fdatasyncSync, fstatSync, fsyncSync, ftruncate, ftruncateSync, mkdirSync, openSync, readFileSync, write, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CorruptSnapshotError } from './snapshot-file';

const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);
const ftruncateAsync = promisify(ftruncate);

/** A journal entry as stored: the change itself plus its sequence number `s`. */
export type Journaled<E> = E & { s: number };

export interface JournalOptions<E> {
  dataDir: string;
  fileName: string;
  /** Why an entry read back is not a valid change (naming the field), or null when it is. */
  validate: (entry: Record<string, unknown>) => string | null;
  /** Longest time, in ms, between an append and the write + fdatasync that makes it durable (group commit). */
  commitMs: number;
  /** Called with the reason when writing fails, and with null once the journal is whole again. */
  onProblem: (problem: string | null) => void;
  /** Only for the type: the entries this journal holds. */
  entry?: E;
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * An append-only journal of changes (JSON lines) next to a snapshot: what changed since the snapshot
 * was written. Appends are written and fdatasynced together at most `commitMs` after they were made
 * (group commit), so a crash loses at most that much; `appendDurable` commits at once and resolves only
 * once the entry is on disk. Each entry carries a sequence number; the snapshot records the last one
 * it contains, so entries the snapshot already holds are skipped on replay (a crash between writing
 * the snapshot and truncating the journal double-counts nothing). Writes happen one at a time, in order.
 *
 * When a write fails the journal is broken: it drops entries (the state is still in memory, and the
 * snapshot is what must save it) until the next snapshot resets it. Never holds prompts, generations or
 * passwords: only what the caller appends (usernames, token counts, server records with a scrypt hash).
 */
export class Journal<E extends object> {
  readonly path: string;
  private seq = 0;
  private fd: number | undefined;
  /** Byte length of the file's whole lines, found by replay: a torn last line beyond it is cut off. */
  private wholeLength: number | undefined;
  private buffer: string[] = [];
  private waiters: Waiter[] = [];
  private truncatePending = false;
  private broken: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: JournalOptions<E>) {
    this.path = join(options.dataDir, options.fileName);
  }

  /** Sequence number of the last entry appended: a snapshot of the current state holds everything up to it. */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * The entries after `afterSeq` (the snapshot's last one), in order. A torn last line (a crash while it
   * was written) is ignored, everything before it kept; any other bad line throws CorruptSnapshotError
   * naming the line and the field, like a bad snapshot.
   */
  replay(afterSeq: number): Journaled<E>[] {
    this.seq = Math.max(this.seq, afterSeq);
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const lines = text.split('\n');
    const entries: Journaled<E>[] = [];
    let offset = 0;
    this.wholeLength = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const last = i === lines.length - 1;
      if (last && line === '') break;
      let entry: unknown;
      try {
        entry = JSON.parse(line);
      } catch {
        // The last line without its newline is a write the crash cut short: nothing after it was acknowledged.
        if (last) break;
        throw new CorruptSnapshotError(this.path, `line ${i + 1} is not JSON`);
      }
      if (last) break; // whole JSON but no newline: the write was still cut short before the newline
      const problem = validateEntry(entry, this.options.validate);
      if (problem) throw new CorruptSnapshotError(this.path, `line ${i + 1}: ${problem}`);
      const journaled = entry as Journaled<E>;
      offset += Buffer.byteLength(line) + 1;
      this.wholeLength = offset;
      this.seq = Math.max(this.seq, journaled.s);
      if (journaled.s > afterSeq) entries.push(journaled);
    }
    // Writes are ordered, but sort anyway: the sequence is the truth.
    return entries.sort((a, b) => a.s - b.s);
  }

  /** Opens the file for appending, cutting off a torn last line. A failure breaks the journal (reported), never the start. */
  open(): void {
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, 'a', 0o600);
      if (this.wholeLength !== undefined) {
        if (fstatSync(this.fd).size > this.wholeLength) ftruncateSync(this.fd, this.wholeLength);
      }
      syncDirectory(dirname(this.path));
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /** Appends a change; it reaches the disk with the next group commit (at most `commitMs` later). */
  append(entry: E): number {
    this.seq += 1;
    if (this.broken === null) {
      this.buffer.push(`${JSON.stringify({ ...entry, s: this.seq })}\n`);
      this.schedule(this.options.commitMs);
    }
    return this.seq;
  }

  /** Appends a change and resolves once it is on disk (written and fdatasynced); rejects when it cannot be. */
  appendDurable(entry: E): Promise<void> {
    if (this.broken !== null) {
      this.seq += 1;
      return Promise.reject(new Error(this.broken));
    }
    this.append(entry);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.schedule(0);
    return done;
  }

  /**
   * A snapshot holding everything up to `lastSeq` has just been written: the journal's entries are no
   * longer needed. Empties it (after any write in progress) and, if it was broken, makes it whole again.
   */
  reset(): void {
    this.buffer = [];
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters = [];
    this.truncatePending = true;
    this.schedule(0);
  }

  /** Writes what is pending synchronously (at shutdown, when the snapshot could not be written). */
  commitSync(): void {
    if (this.closed || this.broken !== null || this.fd === undefined || this.buffer.length === 0) return;
    const waiters = this.waiters;
    try {
      const batch = Buffer.from(this.buffer.join(''));
      for (let written = 0; written < batch.length; ) written += writeSync(this.fd, batch, written, batch.length - written);
      fdatasyncSync(this.fd);
      this.buffer = [];
      this.waiters = [];
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /** Resolves once every write scheduled so far is done (tests, shutdown). */
  async settled(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.chain = this.chain.then(() => this.commit());
    }
    await this.chain;
  }

  /** Waits for the write in progress, writes what is pending and closes the file; the journal does nothing more afterwards (shutdown). */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
    this.commitSync();
    this.closed = true;
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = undefined;
    }
  }

  /** Commits after `delayMs` (group commit), or right after the write in progress when 0. */
  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (delayMs > 0) {
      if (this.timer) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.chain = this.chain.then(() => this.commit());
      }, delayMs);
      this.timer.unref();
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.chain = this.chain.then(() => this.commit());
  }

  private async commit(): Promise<void> {
    if (this.closed) return;
    if (this.truncatePending) {
      this.truncatePending = false;
      try {
        if (this.fd === undefined) this.fd = openSync(this.path, 'a', 0o600);
        await ftruncateAsync(this.fd, 0);
        if (this.broken !== null) {
          this.broken = null;
          this.options.onProblem(null);
        }
      } catch (error) {
        this.fail(error as Error);
        return;
      }
    }
    if (this.buffer.length === 0 || this.broken !== null || this.fd === undefined) {
      if (this.broken === null && this.fd === undefined && this.buffer.length > 0) this.fail(new Error('the journal file is not open'));
      return;
    }
    const batch = Buffer.from(this.buffer.join(''));
    const waiters = this.waiters;
    this.buffer = [];
    this.waiters = [];
    try {
      // A short write (a disk filling up) is continued; the next write then reports the error.
      for (let written = 0; written < batch.length; ) written += (await writeAsync(this.fd, batch, written, batch.length - written)).bytesWritten;
      await fdatasyncAsync(this.fd);
      for (const waiter of waiters) waiter.resolve();
    } catch (error) {
      this.fail(error as Error, waiters);
    }
  }

  private fail(error: Error, waiters: Waiter[] = []): void {
    const message = `the ${this.options.fileName} journal could not be written: ${error.message}`;
    this.broken = message;
    this.buffer = [];
    for (const waiter of [...waiters, ...this.waiters]) waiter.reject(new Error(message));
    this.waiters = [];
    this.options.onProblem(message);
  }
}

function validateEntry(entry: unknown, validate: (entry: Record<string, unknown>) => string | null): string | null {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'not a JSON object';
  const s = (entry as { s?: unknown }).s;
  if (!Number.isSafeInteger(s) || (s as number) < 1) return 's (the sequence number) is not a positive integer';
  return validate(entry as Record<string, unknown>);
}

function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Directory fsync is not supported everywhere.
  }
}
