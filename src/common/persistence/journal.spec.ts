import * as fs from 'node:fs';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from './journal';
import { CorruptSnapshotError } from './snapshot-file';

jest.mock('node:fs', () => {
  const actual = jest.requireActual<typeof import('node:fs')>('node:fs');
  return { ...actual, write: jest.fn(actual.write) };
});

interface Delta {
  u: string;
  n: number;
}

const validate = (entry: Record<string, unknown>): string | null =>
  typeof entry.u !== 'string' ? 'u is not a string' : Number.isInteger(entry.n) && (entry.n as number) >= 0 ? null : 'n is not a non-negative integer';

describe('Journal', () => {
  let dir: string;
  let problems: (string | null)[];
  const journals: Journal<Delta>[] = [];

  const journal = (commitMs = 20): Journal<Delta> => {
    const j = new Journal<Delta>({ dataDir: dir, fileName: 'test.journal', validate, commitMs, onProblem: (p) => problems.push(p) });
    journals.push(j);
    return j;
  };
  const text = (): string => readFileSync(join(dir, 'test.journal'), 'utf8');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kc-journal-'));
    problems = [];
  });

  afterEach(async () => {
    jest.useRealTimers();
    for (const j of journals.splice(0)) await j.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replays what was appended, in order, after the sequence number the snapshot holds', async () => {
    const first = journal();
    first.replay(0);
    first.open();
    first.append({ u: 'a', n: 1 });
    first.append({ u: 'b', n: 2 });
    first.append({ u: 'a', n: 3 });
    await first.settled();
    expect(first.lastSeq).toBe(3);

    const second = journal();
    expect(second.replay(1)).toEqual([
      { u: 'b', n: 2, s: 2 },
      { u: 'a', n: 3, s: 3 },
    ]);
    // Numbering goes on after the last entry on disk.
    second.open();
    expect(second.append({ u: 'c', n: 4 })).toBe(4);
  });

  it('commits in groups: nothing is written before JOURNAL_COMMIT_MS, everything after', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const j = journal(200);
    j.replay(0);
    j.open();
    j.append({ u: 'a', n: 1 });
    j.append({ u: 'a', n: 2 });
    jest.advanceTimersByTime(199);
    await Promise.resolve();
    expect(text()).toBe('');
    const writes = jest.mocked(fs.write).mock.calls.length;
    jest.advanceTimersByTime(1);
    await j.settled();
    expect(text()).toBe('{"u":"a","n":1,"s":1}\n{"u":"a","n":2,"s":2}\n');
    expect(jest.mocked(fs.write).mock.calls.length).toBe(writes + 1);
  });

  it('resolves appendDurable only once the entry is on disk', async () => {
    const j = journal(60_000);
    j.replay(0);
    j.open();
    await j.appendDurable({ u: 'a', n: 1 });
    expect(text()).toBe('{"u":"a","n":1,"s":1}\n');
  });

  it('tolerates a torn last line (a crash mid-write), keeps everything before it, and cuts it off before appending', async () => {
    writeFileSync(join(dir, 'test.journal'), '{"u":"a","n":1,"s":1}\n{"u":"b","n":2,"s":2}\n{"u":"c","n":');
    const j = journal();
    expect(j.replay(0)).toEqual([
      { u: 'a', n: 1, s: 1 },
      { u: 'b', n: 2, s: 2 },
    ]);
    j.open();
    await j.appendDurable({ u: 'd', n: 4 });
    expect(text()).toBe('{"u":"a","n":1,"s":1}\n{"u":"b","n":2,"s":2}\n{"u":"d","n":4,"s":3}\n');
    expect(journal().replay(0)).toHaveLength(3);
  });

  it('refuses a bad line that is not the last, naming the file and the line', () => {
    writeFileSync(join(dir, 'test.journal'), '{"u":"a","n":1,"s":1}\n{"u":"b",\n{"u":"c","n":3,"s":3}\n');
    expect(() => journal().replay(0)).toThrow(CorruptSnapshotError);
    expect(() => journal().replay(0)).toThrow(`${join(dir, 'test.journal')} is corrupt: line 2 is not JSON`);
  });

  it('refuses an entry that is JSON but not a valid change, naming the line and the field', () => {
    writeFileSync(join(dir, 'test.journal'), '{"u":"a","n":1,"s":1}\n{"u":"b","n":-5,"s":2}\n');
    expect(() => journal().replay(0)).toThrow(/test\.journal is corrupt: line 2: n is not a non-negative integer/);
    writeFileSync(join(dir, 'test.journal'), '{"u":"a","n":1}\n');
    expect(() => journal().replay(0)).toThrow(/line 1: s \(the sequence number\) is not a positive integer/);
  });

  it('reports a failed write, drops entries until a snapshot resets it, then is whole again', async () => {
    const j = journal();
    j.replay(0);
    j.open();
    jest.mocked(fs.write).mockImplementationOnce((...args: unknown[]) => {
      const callback = args[args.length - 1] as (error: Error) => void;
      callback(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    });
    await expect(j.appendDurable({ u: 'a', n: 1 })).rejects.toThrow('ENOSPC');
    expect(problems).toEqual(['the test.journal journal could not be written: ENOSPC: no space left on device, write']);
    await expect(j.appendDurable({ u: 'b', n: 2 })).rejects.toThrow('ENOSPC');
    j.append({ u: 'c', n: 3 });
    await j.settled();
    expect(text()).toBe('');

    j.reset();
    await j.settled();
    expect(problems).toEqual(['the test.journal journal could not be written: ENOSPC: no space left on device, write', null]);
    await j.appendDurable({ u: 'd', n: 4 });
    expect(text()).toBe('{"u":"d","n":4,"s":4}\n');
  });

  it('empties the file when a snapshot is written, after the write in progress', async () => {
    const j = journal();
    j.replay(0);
    j.open();
    const pending = j.appendDurable({ u: 'a', n: 1 });
    j.reset();
    await pending;
    await j.settled();
    expect(text()).toBe('');
    j.append({ u: 'b', n: 2 });
    await j.settled();
    expect(journal().replay(1)).toEqual([{ u: 'b', n: 2, s: 2 }]);
  });

  it('reports a journal that cannot be opened (unwritable data directory) instead of failing the start', () => {
    writeFileSync(join(dir, 'file'), '');
    const j = new Journal<Delta>({ dataDir: join(dir, 'file'), fileName: 'test.journal', validate, commitMs: 20, onProblem: (p) => problems.push(p) });
    j.open();
    expect(problems).toEqual([expect.stringMatching(/^the test\.journal journal could not be written: (EEXIST|ENOTDIR)/)]);
  });
});
