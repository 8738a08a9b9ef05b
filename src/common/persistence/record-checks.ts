/**
 * Checks for what is read back from DATA_DIR (snapshots and journals): each names what is wrong with a
 * value ("is not ..."), or answers null when it is fine. The callers add the file and the entry.
 */
export type Check = (value: unknown) => string | null;

/** Largest token count a snapshot or journal may hold: a trillion tokens, far beyond any real cluster. */
export const MAX_STORED_TOKENS = 1e12;
/** Longest name (username, server name, model) a stored record may hold, in characters. */
export const MAX_STORED_NAME_CHARS = 1024;

export const integerBetween =
  (min: number, max: number): Check =>
  (value) =>
    Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max ? null : `is not an integer between ${min} and ${max}`;

export const tokenCount: Check = integerBetween(0, MAX_STORED_TOKENS);

/** A time in ms since the epoch, before the year 3000. */
export const timestamp: Check = integerBetween(0, 32_503_680_000_000);

export const positiveNumber =
  (max: number): Check =>
  (value) =>
    typeof value === 'number' && Number.isFinite(value) && value > 0 && value <= max ? null : `is not a number above 0 and at most ${max}`;

export const name: Check = (value) =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_STORED_NAME_CHARS ? null : `is not a non-empty string of at most ${MAX_STORED_NAME_CHARS} characters`;

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The first field of `record` that fails its check, as `<path>.<field> <what is wrong>`, or null. */
export function checkFields(record: unknown, path: string, checks: Record<string, Check>): string | null {
  if (!isRecord(record)) return `${path} is not a JSON object`;
  for (const [field, check] of Object.entries(checks)) {
    const problem = check(record[field]);
    if (problem !== null) return `${path}${path ? '.' : ''}${field} ${problem}`;
  }
  return null;
}

/**
 * The common frame of a snapshot: `{version: 1, journalSeq?, <listKey>: [...]}`. Checks each entry with
 * `checkEntry` (given its path, e.g. `users[3]`) and that `uniqueKeys` are unique across entries.
 */
export function checkSnapshot(data: unknown, listKey: string, checkEntry: (entry: unknown, path: string) => string | null, uniqueKeys: string[]): string | null {
  if (!isRecord(data)) return 'the content is not a JSON object';
  if (data.version !== 1) return `version is ${JSON.stringify(data.version)}; this server reads version 1`;
  if (data.journalSeq !== undefined && integerBetween(0, Number.MAX_SAFE_INTEGER)(data.journalSeq) !== null) return 'journalSeq is not a non-negative integer';
  const list = data[listKey];
  if (!Array.isArray(list)) return `${listKey} is not an array`;
  const seen = new Map(uniqueKeys.map((key) => [key, new Map<unknown, number>()]));
  for (let i = 0; i < list.length; i++) {
    const path = `${listKey}[${i}]`;
    const problem = checkEntry(list[i], path);
    if (problem !== null) return problem;
    for (const key of uniqueKeys) {
      const value = (list[i] as Record<string, unknown>)[key];
      const earlier = seen.get(key)?.get(value);
      if (earlier !== undefined) return `${path}.${key} ${JSON.stringify(value)} is a duplicate of ${listKey}[${earlier}].${key}`;
      seen.get(key)?.set(value, i);
    }
  }
  return null;
}
