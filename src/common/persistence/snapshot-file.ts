import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A file in DATA_DIR (a snapshot or a journal) whose content cannot be trusted: the start stops, naming it and the entry. */
export class CorruptSnapshotError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file} is corrupt: ${reason}. Fix or move the file away (it is never wiped silently)`);
    this.name = 'CorruptSnapshotError';
  }
}

/**
 * One JSON snapshot file in the data directory. Writes are atomic: a temporary file is written and
 * fsynced, then renamed over the old one, so a crash leaves either the old or the new snapshot.
 * Only stats and password hashes are ever written here; prompts and generations never are.
 */
export class SnapshotFile<T> {
  readonly path: string;
  private changed = false;

  constructor(
    dataDir: string,
    readonly fileName: string,
    /** What is wrong with the content, naming the entry and field (`servers[3].passwordHash is not ...`), or null. */
    private readonly validate: (data: unknown) => string | null,
  ) {
    this.path = join(dataDir, fileName);
  }

  /** The snapshot's content, or undefined when there is none yet. Throws CorruptSnapshotError otherwise. */
  read(): T | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new CorruptSnapshotError(this.path, `not JSON (${(error as Error).message})`);
    }
    const problem = this.validate(data);
    if (problem !== null) throw new CorruptSnapshotError(this.path, problem);
    return data as T;
  }

  /** Notes that the state behind this snapshot changed, so the next flush writes it. */
  markChanged(): void {
    this.changed = true;
  }

  /** Writes `current()` if the state changed since the last write, and says whether it did; on failure, the next flush retries. */
  flush(current: () => T): boolean {
    if (!this.changed) return false;
    this.changed = false;
    try {
      this.write(current());
    } catch (error) {
      this.changed = true;
      throw error;
    }
    return true;
  }

  write(data: T): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const temp = `${this.path}.${process.pid}.tmp`;
    try {
      const fd = openSync(temp, 'w', 0o600);
      try {
        writeFileSync(fd, JSON.stringify(data));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, this.path);
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
    try {
      const dirFd = openSync(dirname(this.path), 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch {
      // Directory fsync is not supported everywhere; the rename itself is still atomic.
    }
  }
}
