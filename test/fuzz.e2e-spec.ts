/**
 * Property-based fuzzing of every endpoint with fast-check: at least 10,000 generated requests (random
 * JSON, DTO-shaped bodies with wrong types and extreme numbers, deep nesting, odd unicode, invalid JSON,
 * wrong content types and encodings, junk path parameters). The property: never a 5xx (except the
 * documented 503 of /generate/sync when no active server can serve the request), every 4xx has the
 * body `{statusCode, error, message}`, and the server still serves a request afterwards.
 *
 * Cases are drawn with a fixed seed, so a failure reproduces; FUZZ_SEED=<n> draws others.
 */
import fc from 'fast-check';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { removeDataDir, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(120_000);

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20_261_124;
const CONCURRENCY = 8;
const REQUEST_TIMEOUT_MS = 10_000;
/** The bridge that serves the fuzzed requests; its model and limits accept any valid wish. */
const BRIDGE_MODEL = 'fuzz/model';
const MAX = 1_000_000;
/** Every failing case, in full, when there are any (the test output shows the first ten). */
const FAILURES_FILE = 'test-artifacts/fuzz-failures.txt';

// ---------------------------------------------------------------------------------------------
// HTTP over keep-alive sockets

interface FuzzCase {
  endpoint: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

let agent: http.Agent;
/** The bridge's own sockets, so that it meets the server as a real bridge would, not the fuzz's connections. */
let bridgeAgent: http.Agent;
let port: number;

function send(method: string, path: string, headers: Record<string, string>, body?: Buffer, via = agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Node's client sends a GET body without a length unless told: the server would read it as the next request.
    const sized = body ? { ...headers, 'content-length': String(body.length) } : headers;
    const request = http.request({ host: '127.0.0.1', port, method, path, headers: sized, agent: via, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, contentType: String(response.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}

async function sendJson(method: string, path: string, body?: unknown, via = agent): Promise<{ status: number; json: ReturnType<typeof JSON.parse> }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const answer = await send(method, path, payload ? { 'content-type': 'application/json' } : {}, payload, via);
  return { status: answer.status, json: answer.text ? JSON.parse(answer.text) : undefined };
}

/**
 * Fresh keep-alive sockets. Drawing thousands of cases blocks this process (client and server alike) for
 * seconds; a socket left idle meanwhile can pass the server's 5 s keep-alive timeout and be reused by the
 * client in the very tick the server closes it (ECONNRESET). Renewing the agents after each draw avoids that race.
 */
function renewAgents(): void {
  agent?.destroy();
  bridgeAgent?.destroy();
  agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  bridgeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: limit }, lane));
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const SPECIALS = [
  '\u0000', '\u0007', '\u200b', '\u200d', '\u200e', '\u202e', '\u2066', '\u2028', '\u0085', '\ufeff', '\uffff', '\ufffd',
  '\ud800', '\udbff', '\udc00', '\udfff', '💩', '👩‍👩‍👧', 'e\u0301', 'שלום', 'مرحبا', '漢字', 'Ω≈ç√', '\r\n', '\t', '"', '\\',
  '<|endoftext|>', '__proto__', 'constructor', 'prototype', '%FF', '${x}', '{{x}}', "'; --", '<script>', '../..',
];
const EDGE_STRINGS = ['', ' ', 'NaN', 'Infinity', '-Infinity', '1e309', '-0', '0x10', '1_000', 'null', 'undefined', 'true', '[]', '{}', '0'];
const EDGE_NUMBERS = [0, -0, -1, 1, 1.5, -1.5, 0.1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e6, 1e6 + 1, 1e21, 1e308, -1e308, 5e-324, MAX];

const oddString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.array(fc.oneof(fc.constantFrom(...SPECIALS), fc.string({ maxLength: 6 })), { maxLength: 20 }).map((parts) => parts.join('')) },
  { weight: 2, arbitrary: fc.constantFrom(...EDGE_STRINGS) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(...SPECIALS, 'a', 'ab ', '0'), fc.integer({ min: 100, max: 60_000 }))
      .map(([unit, length]) => unit.repeat(Math.ceil(length / unit.length))),
  },
);

const oddNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(...EDGE_NUMBERS),
  fc.integer(),
  fc.double(), // NaN and ±Infinity become null in JSON
  fc.integer({ min: -5, max: 20 }),
);

const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  oddString,
  oddNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(oddNumber, oddString), { maxLength: 5 }),
  fc.dictionary(fc.oneof(oddString, fc.constantFrom('__proto__', 'constructor', 'n')), fc.oneof(oddNumber, oddString), { maxKeys: 4 }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** Mostly a valid value, often a wrong one; the key may also be missing (records below). */
const field = (valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 3, arbitrary: valid }, { weight: 2, arbitrary: wrongValue });

/** Extra keys, including the ones that reach Object.prototype when assigned carelessly. */
const extraKeys = fc.dictionary(
  fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'), oddString),
  fc.oneof(wrongValue, fc.constant({ n: 50, polluted: true })),
  { maxKeys: 3 },
);

const withExtras = (base: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Record<string, unknown>> =>
  fc.tuple(base, fc.option(extraKeys, { freq: 3 })).map(([object, extras]) => {
    const result: Record<string, unknown> = { ...object };
    for (const [key, value] of Object.entries(extras ?? {})) Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true });
    return result;
  });

const usernames = fc.oneof(fc.constantFrom('db0', 'fuzzer', 'Anonymous', '__proto__', 'constructor', 'toString'), oddString);
const MODELS = [BRIDGE_MODEL, 'KoboldAI/fairseq-dense-13B-Nerys-v2', '__proto__', 'constructor'];
const tokens = fc.oneof(fc.integer({ min: 1, max: 2048 }), fc.integer({ min: 1, max: MAX }));

const generationParams = withExtras(
  fc.record(
    {
      n: field(fc.integer({ min: 1, max: 6 })),
      max_length: field(tokens),
      max_content_length: field(tokens),
      max_context_length: field(tokens),
      temperature: field(fc.double({ min: 0, max: 2, noNaN: true })),
      rep_pen: field(fc.double({ min: 1, max: 2, noNaN: true })),
      sampler_order: field(fc.array(fc.nat(6), { maxLength: 7 })),
      frmttriminc: field(fc.boolean()),
    },
    { requiredKeys: [] },
  ),
);

const createPromptBody = withExtras(
  fc.record(
    {
      prompt: field(fc.oneof(fc.string({ minLength: 1, maxLength: 60 }), oddString)),
      params: field(generationParams),
      username: field(usernames),
      models: field(fc.array(fc.oneof(fc.constantFrom(...MODELS), oddString), { maxLength: 4 })),
    },
    { requiredKeys: [] },
  ),
);

/** Names and passwords of servers made in setup; most pops use a matching pair (verifying scrypt costs). */
const POOL = [
  { name: 'fz-a', password: 'pw-a' },
  { name: 'fz-b', password: 'pw-b' },
  { name: 'fz-c', password: 'pw-c' },
];
const credentials = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...POOL) },
  { weight: 1, arbitrary: fc.record({ name: fc.constantFrom(...POOL.map((p) => p.name)), password: fc.string({ maxLength: 10 }) }) },
  { weight: 1, arbitrary: fc.record({ name: wrongValue, password: wrongValue }) },
);

const popBody = withExtras(
  fc.tuple(
    credentials,
    fc.record(
      {
        username: field(usernames),
        model: field(fc.oneof(fc.constantFrom(...MODELS), oddString)),
        max_length: field(tokens),
        max_content_length: field(tokens),
        priority_usernames: field(fc.array(usernames, { maxLength: 4 })),
      },
      { requiredKeys: [] },
    ),
  ).map(([credential, rest]) => ({ ...credential, ...rest })),
);

/** Filled in setup: ids that exist, so the fuzz reaches past "not found". */
const real = { promptIds: [] as string[], generationIds: [] as string[], serverIds: [] as string[] };

const submitBody = (): fc.Arbitrary<Record<string, unknown>> =>
  withExtras(
    fc.record(
      {
        id: field(fc.oneof(fc.constantFrom(...real.generationIds), fc.uuid())),
        password: field(fc.constantFrom(...POOL.map((p) => p.password))),
        generation: field(oddString),
      },
      { requiredKeys: [] },
    ),
  );

/** Filled in the v2 test: a registered API key, and jobs a v2 worker popped with it. */
const v2 = { apiKey: '', jobIds: [] as string[] };
const V2_WORKER = 'fz-v2';

/** An `apikey` header: the registered key mostly, the anonymous one, none, or printable junk (Node refuses other header bytes). */
const apiKeyHeader = (): fc.Arbitrary<Record<string, string>> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant({ apikey: v2.apiKey }) },
    { weight: 2, arbitrary: fc.constant({ apikey: '0000000000' }) },
    { weight: 1, arbitrary: fc.constant({}) },
    { weight: 2, arbitrary: fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 }).map((apikey) => ({ apikey })) },
  );

const v2RequestBody = (): fc.Arbitrary<Record<string, unknown>> =>
  withExtras(
  fc.record(
    {
      prompt: field(fc.oneof(fc.string({ minLength: 1, maxLength: 60 }), oddString)),
      params: field(generationParams),
      models: field(fc.array(fc.oneof(fc.constantFrom(...MODELS), oddString), { maxLength: 4 })),
      workers: field(fc.array(fc.oneof(fc.constantFrom(...(real.serverIds.length ? real.serverIds : ['x'])), fc.uuid(), oddString), { maxLength: 3 })),
      trusted_workers: field(fc.boolean()),
    },
    { requiredKeys: [] },
  ),
  );

const v2PopBody = withExtras(
  fc.record(
    {
      name: field(fc.oneof(fc.constantFrom(V2_WORKER, 'fz-a'), oddString)),
      models: field(fc.array(fc.oneof(fc.constantFrom(...MODELS), oddString), { maxLength: 3 })),
      max_length: field(tokens),
      max_context_length: field(tokens),
      priority_usernames: field(fc.array(usernames, { maxLength: 3 })),
      softprompts: field(fc.array(oddString, { maxLength: 2 })),
      bridge_agent: field(oddString),
    },
    { requiredKeys: [] },
  ),
);

const v2SubmitBody = (): fc.Arbitrary<Record<string, unknown>> =>
  withExtras(
    fc.record(
      {
        id: field(fc.oneof(fc.constantFrom(...(v2.jobIds.length ? v2.jobIds : ['x'])), fc.constantFrom(...real.generationIds), fc.uuid())),
        generation: field(oddString),
        state: field(fc.constantFrom('ok', 'faulted', 'censored', 'csam', 'nope')),
        seed: field(fc.oneof(fc.integer(), fc.constant(-1))),
      },
      { requiredKeys: [] },
    ),
  );

/** A case with an `apikey` header besides the body's own headers. */
const withApiKey = (arbitrary: fc.Arbitrary<FuzzCase>): fc.Arbitrary<FuzzCase> =>
  fc.tuple(arbitrary, apiKeyHeader()).map(([c, key]) => ({ ...c, headers: { ...c.headers, ...key } }));

/** Nesting 1 to 5000 levels deep, written as text (building it as an object would be the test's problem). */
const deepText: fc.Arbitrary<string> = fc
  .record({ depth: fc.integer({ min: 1, max: 5000 }), kind: fc.constantFrom('[]', '{}', 'mixed'), where: fc.constantFrom('top', 'params', 'prompt', 'extra') })
  .map(({ depth, kind, where }) => {
    let open = '';
    let close = '';
    for (let level = 0; level < depth; level++) {
      const object = kind === '{}' || (kind === 'mixed' && level % 2 === 0);
      open += object ? '{"a":' : '[';
      close = (object ? '}' : ']') + close;
    }
    const nested = `${open}1${close}`;
    if (where === 'top') return nested;
    if (where === 'params') return `{"prompt":"p","params":{"x":${nested}},"username":"u","password":"p","name":"n","model":"m","id":"i","generation":"g"}`;
    if (where === 'prompt') return `{"prompt":${nested}}`;
    return `{"prompt":"p","extra":${nested}}`;
  });

const RAW_NUMBERS = ['1e999', '-1e999', '1'.repeat(400), '0.0000000000000000001', '-0', '1.0', '2e0', '9007199254740993', '1E+2', '.5', '01', '+1', 'NaN', 'Infinity', '0x1F'];

/** Text that is not the JSON object the endpoint wants, or not JSON at all. */
const rawText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', ' ', '\n', 'null', 'true', '0', '""', '[]', '{}', '{', '}', '{"prompt":', '{"prompt":"p",}', "{'prompt':'p'}", '{"prompt":"p"}xyz', '\ufeff{"prompt":"p"}'),
  fc.constantFrom(...RAW_NUMBERS).map((number) => `{"prompt":"p","params":{"n":${number},"max_length":${number}},"max_length":${number}}`),
  fc.tuple(fc.jsonValue(), fc.nat()).map(([value, cut]) => {
    const text = JSON.stringify(value);
    return text.slice(0, cut % (text.length + 1));
  }),
  fc.constant('{"prompt":"a","prompt":5,"params":{"n":1,"n":"2"}}'),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constant(`{"prompt":"${'x'.repeat(1_100_000)}"}`), // over BODY_LIMIT_BYTES
);

/** How a value is put on the wire: JSON in most cases, sometimes as a form, multipart, or compressed. */
type Encoding = 'json' | 'form' | 'multipart' | 'gzip' | 'gzip-junk' | 'deflate-junk' | 'unknown-encoding';
const encodings = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Encoding>('json') },
  { weight: 1, arbitrary: fc.constantFrom<Encoding>('form', 'multipart', 'gzip', 'gzip-junk', 'deflate-junk', 'unknown-encoding') },
);
const contentTypes = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'none', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=fuzz', 'application/octet-stream',
      'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json; charset=koi8-r', 'application/json; charset=nope',
      '*/*', 'application/xml', 'image/png', 'json', ';;;', 'text/html; charset="',
    ),
  },
);

function toText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    try {
      return String(value); // BigInt: whatever it prints is another odd body
    } catch {
      return '[object without toString]';
    }
  }
}

function encode(value: unknown, encoding: Encoding): { body?: Buffer; headers: Record<string, string> } {
  const text = typeof value === 'string' ? value : toText(value);
  if (text === undefined) return { headers: {} };
  const entries = typeof value === 'object' && value !== null ? Object.entries(value).map(([k, v]) => [k, typeof v === 'string' ? v : (toText(v) ?? '')]) : [['body', text]];
  switch (encoding) {
    case 'form':
      return { body: Buffer.from(new URLSearchParams(entries).toString()), headers: {} };
    case 'multipart':
      return {
        body: Buffer.from(entries.map(([k, v]) => `--fuzz\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') + '--fuzz--\r\n'),
        headers: {},
      };
    case 'gzip':
      return { body: gzipSync(text), headers: { 'content-encoding': 'gzip' } };
    case 'gzip-junk':
      return { body: Buffer.from(text), headers: { 'content-encoding': 'gzip' } };
    case 'deflate-junk':
      return { body: Buffer.from(text), headers: { 'content-encoding': 'deflate' } };
    case 'unknown-encoding':
      return { body: Buffer.from(text), headers: { 'content-encoding': 'x-fuzz' } };
    default:
      return { body: Buffer.from(text), headers: {} };
  }
}

/** A body for a POST endpoint, with its headers. */
const bodyFor = (shaped: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<{ body?: Buffer; headers: Record<string, string> }> =>
  fc
    .tuple(
      fc.oneof(
        { weight: 10, arbitrary: shaped },
        { weight: 3, arbitrary: fc.jsonValue() },
        { weight: 2, arbitrary: fc.anything({ maxDepth: 4, withBigInt: true, withNullPrototype: true, withSparseArray: true, withBoxedValues: true }) },
        { weight: 3, arbitrary: rawText },
        { weight: 2, arbitrary: deepText },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) },
      ),
      encodings,
      contentTypes,
    )
    .map(([value, encoding, contentType]) => {
      const { body, headers } = Buffer.isBuffer(value) ? { body: value, headers: {} } : encode(value, encoding);
      return { body, headers: contentType === 'none' ? headers : { ...headers, 'content-type': contentType } };
    });

/** A path parameter: real ids, uuids, and everything a URL can carry that an id should not. */
const pathParam = (ids: () => string[]): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...ids()) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 3, arbitrary: oddString.filter((s) => s.length < 5000).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd'))) },
    {
      weight: 3,
      arbitrary: fc
        .array(fc.constantFrom('%FF', '%C0%80', '%', '%G1', '%2', '%00', '%2F', '%5C', '%E0%A4%A', '%ED%A0%80', '%F4%90%80%80', '..', '.', '%20', '+', 'a', '%25', ';', ':', '@', '!'), { minLength: 1, maxLength: 12 })
        .map((parts) => parts.join('')),
    },
    // Latin-1 bytes sent raw: Node's client allows \x21-\xff in a path.
    { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0x21, max: 0xff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 }).map((s) => s.replace(/[/?#]/g, '_')) },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 30_000 }).map((length) => 'a'.repeat(length)) }, // beyond 16 KiB the URL overflows Node's header limit
  );

const queryString = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.constantFrom('?', '?a[b][c][d][e]=1', '?__proto__[x]=1', '?constructor[prototype][x]=1', '?a=1&a=2&a=3', '?%FF=%FF', '?x=' + 'y'.repeat(5000)) },
  { weight: 1, arbitrary: oddString.filter((s) => s.length < 3000).map((s) => '?' + encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd'))) },
);

const getCase = (endpoint: string, path: fc.Arbitrary<string>, method = 'GET'): fc.Arbitrary<FuzzCase> =>
  fc.tuple(path, queryString, fc.option(bodyFor(createPromptBody), { freq: 5 })).map(([p, query, withBody]) => ({
    endpoint,
    method,
    path: p + query,
    headers: withBody?.headers ?? {},
    body: withBody?.body,
  }));

const postCase = (endpoint: string, shaped: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<FuzzCase> =>
  bodyFor(shaped).map(({ body, headers }) => ({ endpoint, method: 'POST', path: endpoint, headers, body }));

/** /generate/sync is left out: a valid one waits for a bridge, and fuzzed pops take slots they never finish. */
const ENDPOINT_PATHS = ['/generate/prompt', '/generate/async', '/generate/pop', '/generate/submit', '/generate/prompt/x', '/servers', '/servers/x', '/usage', '/contributions', '/models', '/', '/api-json'];

// ---------------------------------------------------------------------------------------------
// The property

interface Tally {
  sent: number;
  byEndpoint: Record<string, number>;
  byStatus: Record<string, number>;
  fiveHundreds: number;
  documented503: number;
  failures: string[];
}

const tally: Tally = { sent: 0, byEndpoint: {}, byStatus: {}, fiveHundreds: 0, documented503: 0, failures: [] };

function describeCase(c: FuzzCase): string {
  const body = c.body ? c.body.toString('utf8') : '(none)';
  const short = (s: string): string => JSON.stringify(s.length > 300 ? `${s.slice(0, 300)}… (${s.length} chars)` : s);
  return `${c.method} ${short(c.path)} headers=${JSON.stringify(c.headers)} body=${short(body)}`;
}

/** Why this answer breaks the property, or null. */
function problemWith(c: FuzzCase, answer: Answer): string | null {
  if (answer.status >= 500) {
    const documented = c.endpoint === '/generate/sync' && answer.status === 503;
    if (!documented) return `answered ${answer.status}: ${answer.text.slice(0, 300)}`;
  }
  if (c.method === 'HEAD' || answer.status === 204 || answer.status < 400) return null;
  if (!answer.contentType.startsWith('application/json')) return `${answer.status} with content-type "${answer.contentType}": ${answer.text.slice(0, 200)}`;
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return `${answer.status} with a body that is not JSON: ${answer.text.slice(0, 200)}`;
  }
  const { statusCode, error, message, ...rest } = (body ?? {}) as Record<string, unknown>;
  if (statusCode !== answer.status || typeof error !== 'string' || error === '' || typeof message !== 'string' || message === '' || Object.keys(rest).length > 0) {
    return `${answer.status} with a body not shaped {statusCode, error, message}: ${answer.text.slice(0, 300)}`;
  }
  return null;
}

async function check(c: FuzzCase): Promise<void> {
  tally.sent += 1;
  tally.byEndpoint[c.endpoint] = (tally.byEndpoint[c.endpoint] ?? 0) + 1;
  let answer: Answer;
  try {
    answer = await send(c.method, c.path, c.headers, c.body);
  } catch (error) {
    tally.byStatus.error = (tally.byStatus.error ?? 0) + 1;
    tally.failures.push(`${describeCase(c)}\n    → no answer: ${(error as Error).message}`);
    return;
  }
  tally.byStatus[answer.status] = (tally.byStatus[answer.status] ?? 0) + 1;
  if (answer.status >= 500) {
    if (c.endpoint === '/generate/sync' && answer.status === 503) tally.documented503 += 1;
    else tally.fiveHundreds += 1;
  }
  const problem = problemWith(c, answer);
  if (problem) tally.failures.push(`${describeCase(c)}\n    → ${problem}`);
}

/** Cases for one endpoint, drawn from its own seed so adding an endpoint does not reshuffle the others. */
function draw(arbitrary: fc.Arbitrary<FuzzCase>, runs: number, salt: number): FuzzCase[] {
  return fc.sample(arbitrary, { seed: SEED + salt, numRuns: runs });
}

/** Round-robin over the lists, so every endpoint is under fire at once. */
function interleave<T>(lists: T[][]): T[] {
  const result: T[] = [];
  for (let i = 0; lists.some((list) => i < list.length); i++) for (const list of lists) if (i < list.length) result.push(list[i]);
  return result;
}

// ---------------------------------------------------------------------------------------------
// A bridge that serves whatever it can, submitting odd texts, while the fuzz runs

const BRIDGE = { username: 'fz-owner', password: 'fz-bridge-password', name: 'fz-bridge', model: BRIDGE_MODEL, max_length: MAX, max_content_length: MAX };
const BRIDGE_TEXTS = [' fine.', '<|endoftext|>', '\ud800 lone \udfff', '漢字'.repeat(3000), 'a'.repeat(20_000), '\u0000\u202e', '', '💩 '.repeat(500)];

function startBridge(): { stop: () => Promise<void>; problems: string[]; submitted: () => number } {
  const problems: string[] = [];
  let running = true;
  let submitted = 0;
  const loop = async (): Promise<void> => {
    for (let i = 0; running; i++) {
      const pop = await sendJson('POST', '/generate/pop', BRIDGE, bridgeAgent);
      if (pop.status !== 200) {
        problems.push(`bridge pop answered ${pop.status}: ${JSON.stringify(pop.json)}`);
        return;
      }
      if (pop.json.id === null) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        continue;
      }
      const generation = BRIDGE_TEXTS[i % BRIDGE_TEXTS.length];
      const submit = await sendJson('POST', '/generate/submit', { id: pop.json.id, password: BRIDGE.password, generation }, bridgeAgent);
      if (submit.status !== 200 || typeof submit.json.reward !== 'number') {
        problems.push(`bridge submit answered ${submit.status}: ${JSON.stringify(submit.json)}`);
        return;
      }
      submitted += 1;
    }
  };
  const done = loop().catch((error: unknown) => {
    problems.push(`bridge stopped: ${(error as Error).message}`);
  });
  return {
    stop: async () => {
      running = false;
      await done;
    },
    problems,
    submitted: () => submitted,
  };
}

// ---------------------------------------------------------------------------------------------

describe(`Fuzzing every endpoint (e2e, seed ${SEED})`, () => {
  let t: TestApp;
  const started = Date.now();

  beforeAll(async () => {
    rmSync(FAILURES_FILE, { force: true });
    t = await startTestApp({ LOG_LEVEL: 'error', MAX_WAITING_REQUESTS_PER_USER: 100_000 });
    port = (t.app.getHttpServer().address() as AddressInfo).port;
    renewAgents();

    // Real ids: servers of the pool (same model and limits as the bridge), prompts, and generations in progress.
    for (const credential of POOL) {
      const pop = await sendJson('POST', '/generate/pop', { ...BRIDGE, ...credential });
      expect(pop.status).toBe(200);
    }
    for (let i = 0; i < 40; i++) {
      const created = await sendJson('POST', '/generate/prompt', { prompt: `setup ${i}`, username: 'fz-setup', params: { n: 2 } });
      expect(created.status).toBe(200);
      real.promptIds.push(created.json.id);
    }
    for (let i = 0; i < 30; i++) {
      const credential = POOL[i % POOL.length];
      const pop = await sendJson('POST', '/generate/pop', { ...BRIDGE, ...credential });
      expect(pop.json.id).toEqual(expect.any(String));
      real.generationIds.push(pop.json.id);
    }
    real.serverIds.push(...(await sendJson('GET', '/servers')).json.map((s: { id: string }) => s.id));
  });

  afterAll(async () => {
    agent?.destroy();
    bridgeAgent?.destroy();
    await t?.close();
    if (t) removeDataDir(t.dataDir);
    if (tally.failures.length > 0) {
      mkdirSync('test-artifacts', { recursive: true });
      writeFileSync(FAILURES_FILE, tally.failures.join('\n'));
    }
    // The figures the README quotes.
    console.log(
      [
        `Fuzz seed ${SEED}: ${tally.sent} generated requests sent, ${tally.fiveHundreds} unexpected 5xx, ` +
          `${tally.documented503} documented 503s from /generate/sync (no active server could serve), ${tally.failures.length} failures, ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s`,
        `  by endpoint: ${JSON.stringify(tally.byEndpoint)}`,
        `  by status: ${JSON.stringify(tally.byStatus)}`,
      ].join('\n'),
    );
  });

  it('answers /generate/sync without a 5xx other than the documented 503 (a bridge serves what it can)', async () => {
    const cases = draw(postCase('/generate/sync', createPromptBody), 900, 3);
    renewAgents();
    const bridge = startBridge();
    try {
      await pool(cases, CONCURRENCY, check);
    } finally {
      await bridge.stop();
    }
    expect(bridge.problems).toEqual([]);
    expect(bridge.submitted()).toBeGreaterThan(0);
    expect(tally.failures.slice(0, 5)).toEqual([]);
  });

  it('answers every other endpoint without a 5xx, with {statusCode, error, message} on every 4xx', async () => {
    const cases = interleave([
      draw(postCase('/generate/prompt', createPromptBody), 1300, 1),
      draw(postCase('/generate/async', createPromptBody), 800, 2),
      draw(postCase('/generate/pop', popBody), 1300, 4),
      draw(postCase('/generate/submit', submitBody()), 1300, 5),
      draw(getCase('GET /generate/prompt/:id', pathParam(() => real.promptIds).map((id) => `/generate/prompt/${id}`)), 1000, 6),
      draw(getCase('DELETE /generate/prompt/:id', pathParam(() => real.promptIds).map((id) => `/generate/prompt/${id}`), 'DELETE'), 600, 7),
      draw(getCase('GET /servers/:id', pathParam(() => real.serverIds).map((id) => `/servers/${id}`)), 900, 8),
      draw(getCase('GET /servers', fc.constant('/servers')), 450, 9),
      draw(getCase('GET /usage', fc.constant('/usage')), 450, 10),
      draw(getCase('GET /contributions', fc.constant('/contributions')), 450, 11),
      draw(getCase('GET /models', fc.constant('/models')), 450, 12),
      draw(
        fc
          .tuple(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'), fc.constantFrom(...ENDPOINT_PATHS), bodyFor(createPromptBody))
          .map(([method, path, { body, headers }]) => ({ endpoint: 'other methods', method, path, headers, body: method === 'GET' || method === 'HEAD' ? undefined : body })),
        300,
        13,
      ),
    ]);
    renewAgents();
    const bridge = startBridge();
    try {
      await pool(cases, CONCURRENCY, check);
    } finally {
      await bridge.stop();
    }
    expect(bridge.problems).toEqual([]);
    expect(tally.sent).toBeGreaterThanOrEqual(10_000);
    expect(tally.fiveHundreds).toBe(0);
    expect(tally.failures.slice(0, 10)).toEqual([]);
  });

  it('answers every endpoint of the v2 API (and POST /users) without a 5xx, with {statusCode, error, message} on every 4xx', async () => {
    v2.apiKey = (await sendJson('POST', '/users', { username: 'fz-v2-owner' })).json.api_key;
    const headers = { 'content-type': 'application/json', apikey: v2.apiKey };
    const popV2 = async (): Promise<{ id: string | null }> =>
      JSON.parse((await send('POST', '/api/v2/generate/text/pop', headers, Buffer.from(JSON.stringify({ name: V2_WORKER, models: [BRIDGE_MODEL] })))).text);
    await popV2();
    for (let i = 0; i < 10; i++) {
      await sendJson('POST', '/generate/prompt', { prompt: `v2 setup ${i}`, username: 'fz-setup', params: { n: 1 } });
      const job = await popV2();
      if (job.id) v2.jobIds.push(job.id);
    }
    expect(v2.jobIds.length).toBeGreaterThan(0);
    const sent = tally.sent;
    const fiveHundreds = tally.fiveHundreds;
    const failures = tally.failures.length;
    const statusPath = pathParam(() => real.promptIds).map((id) => `/api/v2/generate/text/status/${id}`);
    const workerPath = pathParam(() => real.serverIds).map((id) => `/api/v2/workers/${id}`);
    const cases = interleave([
      draw(withApiKey(postCase('/api/v2/generate/text/async', v2RequestBody())), 400, 21),
      draw(withApiKey(postCase('/api/v2/generate/text/pop', v2PopBody)), 400, 22),
      draw(withApiKey(postCase('/api/v2/generate/text/submit', v2SubmitBody())), 400, 23),
      draw(withApiKey(getCase('GET /api/v2/generate/text/status/:id', statusPath)), 300, 24),
      draw(withApiKey(getCase('DELETE /api/v2/generate/text/status/:id', statusPath, 'DELETE')), 150, 25),
      draw(withApiKey(getCase('GET /api/v2/workers/:id', workerPath)), 200, 26),
      draw(withApiKey(getCase('PUT /api/v2/workers/:id', workerPath, 'PUT')), 200, 27),
      draw(withApiKey(getCase('GET /api/v2/find_user', fc.constant('/api/v2/find_user'))), 150, 28),
      draw(withApiKey(getCase('GET /api/v2/workers', fc.constant('/api/v2/workers'))), 100, 29),
      draw(getCase('GET /api/v2/status/models', fc.constant('/api/v2/status/models')), 100, 30),
      draw(getCase('GET /api/v2/status/performance', fc.constant('/api/v2/status/performance')), 50, 31),
      draw(postCase('/users', withExtras(fc.record({ username: field(usernames) }, { requiredKeys: [] }))), 200, 32),
    ]);
    renewAgents();
    await pool(cases, CONCURRENCY, check);
    console.log(`v2 fuzz: ${tally.sent - sent} generated requests, ${tally.fiveHundreds - fiveHundreds} 5xx, ${tally.failures.length - failures} failures`);
    expect(tally.sent - sent).toBeGreaterThanOrEqual(2_500);
    expect(tally.fiveHundreds - fiveHundreds).toBe(0);
    expect(tally.failures.slice(failures, failures + 10)).toEqual([]);
  });

  it('still serves a request afterwards: create → pop → submit → status, with odd names listed as they are', async () => {
    const created = await sendJson('POST', '/generate/prompt', { prompt: 'after the storm', username: '__proto__', models: ['__proto__'], params: { n: 1, max_length: 1, max_content_length: 1 } });
    expect(created.status).toBe(200);
    // The smallest limits, so few fuzzed requests match; those that come first are served too.
    const server = { username: 'constructor', password: 'after-password', name: 'after-fuzz', model: '__proto__', max_length: 1, max_content_length: 1 };
    let pop = await sendJson('POST', '/generate/pop', server);
    for (let served = 0; pop.json?.payload?.prompt !== 'after the storm' && served < 20_000; served++) {
      expect(pop.json.id).toEqual(expect.any(String));
      expect((await sendJson('POST', '/generate/submit', { id: pop.json.id, password: server.password, generation: 'x' })).status).toBe(200);
      pop = await sendJson('POST', '/generate/pop', server);
    }
    expect(pop).toEqual({ status: 200, json: { id: expect.any(String), payload: expect.objectContaining({ prompt: 'after the storm', n: 1 }) } });
    const submit = await sendJson('POST', '/generate/submit', { id: pop.json.id, password: server.password, generation: ' calm returned.' });
    expect(submit).toEqual({ status: 200, json: { reward: expect.any(Number) } });
    const status = await sendJson('GET', `/generate/prompt/${created.json.id}`);
    expect(status.json).toMatchObject({ finished: 1, done: true, generations: [' calm returned.'] });

    const own = (object: object, key: string): unknown => (Object.prototype.hasOwnProperty.call(object, key) ? (object as Record<string, unknown>)[key] : undefined);
    expect(own((await sendJson('GET', '/usage')).json, '__proto__')).toEqual(expect.any(Number));
    expect(own((await sendJson('GET', '/contributions')).json, 'constructor')).toEqual(expect.any(Number));
    expect(own((await sendJson('GET', '/models')).json, '__proto__')).toBeGreaterThanOrEqual(1);
  });

  describe('regressions the fuzzing found', () => {
    const errorBody = (statusCode: number, message: RegExp): unknown => ({ statusCode, error: expect.any(String), message: expect.stringMatching(message) });

    it('refuses a body nested deeper than 32 levels with a 400, not a 500 from a stack overflow', async () => {
      const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
      for (const path of ['/generate/prompt', '/generate/pop', '/generate/submit']) {
        const answer = await send('POST', path, { 'content-type': 'application/json' }, Buffer.from(`{"prompt":"p","params":{"x":${nested(3000)}}}`));
        expect({ status: answer.status, body: JSON.parse(answer.text) }).toEqual({ status: 400, body: errorBody(400, /32 levels/) });
      }
      const shallow = await sendJson('POST', '/generate/prompt', { prompt: 'p', params: { sampler_order: [[[1]]] } });
      expect(shallow.status).toBe(200);
    });

    it('answers a URL Node cannot parse, or one over 16 KiB, with the usual JSON error body', async () => {
      const latin1 = await send('GET', '/generate/prompt/\u00ff\u00e9', {});
      expect({ status: latin1.status, body: JSON.parse(latin1.text) }).toEqual({ status: 400, body: errorBody(400, /Malformed HTTP request/) });
      const long = await send('GET', `/servers/${'a'.repeat(20_000)}`, {});
      expect({ status: long.status, body: JSON.parse(long.text) }).toEqual({ status: 431, body: errorBody(431, /larger than the server accepts/) });
    });

    it('credits generations that used to crash the token counter: <|endoftext|>, and a long run of CJK', async () => {
      const server = { username: 'tok-owner', password: 'tok-password', name: 'tok-bridge', model: 'tok/model', max_length: 1, max_content_length: 1 };
      for (const generation of ['The end.<|endoftext|>', '漢字'.repeat(60_000)]) {
        const created = await sendJson('POST', '/generate/prompt', { prompt: 'p', models: ['tok/model'], params: { max_length: 1, max_content_length: 1 } });
        let pop = await sendJson('POST', '/generate/pop', server);
        for (let served = 0; pop.json.payload?.prompt !== 'p' && served < 20_000; served++) {
          await sendJson('POST', '/generate/submit', { id: pop.json.id, password: server.password, generation: 'x' });
          pop = await sendJson('POST', '/generate/pop', server);
        }
        const submit = await sendJson('POST', '/generate/submit', { id: pop.json.id, password: server.password, generation });
        expect(submit).toEqual({ status: 200, json: { reward: expect.any(Number) } });
        expect(submit.json.reward).toBeGreaterThan(0);
        expect((await sendJson('GET', `/generate/prompt/${created.json.id}`)).json).toMatchObject({ finished: 1, done: true });
      }
    });
  });
});
