import * as fs from 'node:fs';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptSnapshotError, SnapshotFile } from './snapshot-file';

interface Data {
  values: number[];
}
const isData = (d: unknown): string | null => (typeof d === 'object' && d !== null && Array.isArray((d as Data).values) ? null : 'values is not an array');

jest.mock('node:fs', () => {
  const actual = jest.requireActual<typeof import('node:fs')>('node:fs');
  return { ...actual, writeFileSync: jest.fn(actual.writeFileSync) };
});

describe('SnapshotFile', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kc-snapshot-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads nothing before the first write', () => {
    expect(new SnapshotFile<Data>(dir, 'data.json', isData).read()).toBeUndefined();
  });

  it('reads back what it wrote', () => {
    const file = new SnapshotFile<Data>(dir, 'data.json', isData);
    file.write({ values: [1, 2, 3] });
    expect(new SnapshotFile<Data>(dir, 'data.json', isData).read()).toEqual({ values: [1, 2, 3] });
  });

  it('creates the data directory when it is missing', () => {
    const file = new SnapshotFile(join(dir, 'nested', 'deeper'), 'data.json', isData);
    file.write({ values: [] });
    expect(file.read()).toEqual({ values: [] });
  });

  it('writes atomically: a failed write leaves the previous snapshot whole, and no temp file in its place', () => {
    const file = new SnapshotFile<Data>(dir, 'data.json', isData);
    file.write({ values: [1] });
    jest.mocked(fs.writeFileSync).mockImplementationOnce(() => {
      throw new Error('disk full');
    });
    expect(() => file.write({ values: [2] })).toThrow('disk full');
    expect(file.read()).toEqual({ values: [1] });
    expect(readFileSync(join(dir, 'data.json'), 'utf8')).toBe('{"values":[1]}');
    expect(readdirSync(dir)).toEqual(['data.json']);
  });

  it('refuses a file that is not JSON, naming it, and leaves it alone', () => {
    fs.writeFileSync(join(dir, 'data.json'), '{"values": [1,');
    const file = new SnapshotFile<Data>(dir, 'data.json', isData);
    expect(() => file.read()).toThrow(CorruptSnapshotError);
    expect(() => file.read()).toThrow(join(dir, 'data.json'));
    expect(readFileSync(join(dir, 'data.json'), 'utf8')).toBe('{"values": [1,');
  });

  it('refuses JSON of the wrong structure', () => {
    fs.writeFileSync(join(dir, 'data.json'), '{"other": true}');
    expect(() => new SnapshotFile<Data>(dir, 'data.json', isData).read()).toThrow(/data\.json is corrupt: values is not an array\. Fix or move the file away/);
  });

  it('flushes only after a change, and retries a failed flush at the next one', () => {
    const file = new SnapshotFile<Data>(dir, 'data.json', isData);
    const current = jest.fn(() => ({ values: [1] }));
    file.flush(current);
    expect(current).not.toHaveBeenCalled();
    file.markChanged();
    jest.mocked(fs.writeFileSync).mockImplementationOnce(() => {
      throw new Error('disk full');
    });
    expect(() => file.flush(current)).toThrow('disk full');
    file.flush(current);
    expect(file.read()).toEqual({ values: [1] });
    file.flush(current);
    expect(current).toHaveBeenCalledTimes(2);
  });

  it('leaves no temporary files behind after a successful write', () => {
    const file = new SnapshotFile<Data>(dir, 'data.json', isData);
    file.write({ values: [1] });
    file.write({ values: [2] });
    expect(readdirSync(dir)).toEqual(['data.json']);
  });
});
