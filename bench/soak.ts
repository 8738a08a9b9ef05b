/**
 * `npm run soak`: the built server (dist/main.js) under SOAK_SECONDS (default 60) of mixed load from
 * simulated clients (prompts, status polls, sync) and bridges (pop/submit, and some that pop and never
 * submit). Prints requests sent, errors, the server's RSS at the start and end of the load, and its
 * event-loop delay, measured by bench/soak-preload.js, which is loaded into the server process with
 * `--require` and talks to this script over IPC: nothing is added to the server's code.
 *
 * Errors are answers other than 2xx, the expected 404s (polling a request that expired, a submit that
 * came too late) and 503s (sync with no server that can serve it, shutdown), plus connection errors.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonAnswer, JsonClient } from '../test/support/json-client';
import { freePort } from '../test/support/processes';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const WORKERS = Number(process.env.SOAK_WORKERS ?? 6);
const VANISHING_WORKERS = Number(process.env.SOAK_VANISHING_WORKERS ?? 2);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 6);
const SYNC_CLIENTS = Number(process.env.SOAK_SYNC_CLIENTS ?? 2);
const ROOT = join(__dirname, '..');
const MAIN = join(ROOT, 'dist', 'main.js');
const PRELOAD = join(__dirname, 'soak-preload.js');
const MODEL = 'soak/model';

interface Report {
  type: string;
  rss: number;
  heapUsed: number;
  loopDelayMs?: { p50: number; p99: number; max: number };
}

const stats = {
  requests: 0,
  byRoute: new Map<string, number>(),
  byStatus: new Map<string, number>(),
  errors: new Map<string, number>(),
  generations: 0,
  syncCompleted: 0,
  slotsAbandoned: 0,
};

const bump = (map: Map<string, number>, key: string): void => void map.set(key, (map.get(key) ?? 0) + 1);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class Client {
  private readonly http: JsonClient;

  constructor(port: number, timeoutMs = 30_000) {
    this.http = new JsonClient(port, timeoutMs);
  }

  /** Counts the request and its outcome; resolves with the status (0 on a connection error) and JSON body. */
  async request(route: string, method: string, path: string, body?: unknown, expected: number[] = []): Promise<JsonAnswer> {
    stats.requests += 1;
    bump(stats.byRoute, route);
    try {
      const answer = await this.http.request(method, path, body);
      bump(stats.byStatus, String(answer.status));
      if ((answer.status < 200 || answer.status >= 300) && !expected.includes(answer.status)) bump(stats.errors, `${route} → ${answer.status}`);
      return answer;
    } catch (error) {
      if (this.closed) {
        bump(stats.byStatus, 'still waiting at the end');
        return { status: 0, json: undefined };
      }
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      bump(stats.byStatus, 'connection error');
      bump(stats.errors, `${route} → ${code}`);
      return { status: 0, json: undefined };
    }
  }

  private closed = false;

  /** Ends the client; a request still waiting is dropped, and not counted as an error. */
  close(): void {
    this.closed = true;
    this.http.close();
  }
}

const WORDS = [' the', ' clown', ' argued', ' and', ' I', ' lost', '.', ' Then', ' we', ' danced', ' twice', ',', ' slowly'];
const text = (words: number): string => Array.from({ length: words }, (_, i) => WORDS[(i * 7 + words) % WORDS.length]).join('');

async function worker(port: number, index: number, until: number): Promise<void> {
  const client = new Client(port);
  const server = { username: `soak-owner-${index % 3}`, password: `soak-password-${index}`, name: `soak-worker-${index}`, model: MODEL, max_length: 512, max_content_length: 2048 };
  for (let round = 0; Date.now() < until; round++) {
    const pop = await client.request('pop', 'POST', '/generate/pop', server);
    if (pop.status !== 200) {
      await sleep(100);
      continue;
    }
    if (pop.json.id === null) {
      await sleep(20);
      continue;
    }
    await sleep(5 + (round % 20)); // "generating"
    const submit = await client.request('submit', 'POST', '/generate/submit', { id: pop.json.id, password: server.password, generation: text(5 + (round % 60)) }, [404]);
    if (submit.status === 200) stats.generations += 1;
  }
  client.close();
}

/** A bridge that takes work and vanishes with it (a closed laptop): pops now and then, never submits. */
async function vanishingWorker(port: number, index: number, until: number): Promise<void> {
  const client = new Client(port);
  const server = { username: 'soak-vanisher', password: `vanish-${index}`, name: `soak-vanisher-${index}`, model: MODEL, max_length: 512, max_content_length: 2048 };
  while (Date.now() < until) {
    const pop = await client.request('pop (never submits)', 'POST', '/generate/pop', server);
    if (pop.status === 200 && pop.json.id) stats.slotsAbandoned += 1;
    await sleep(2000);
  }
  client.close();
}

async function promptClient(port: number, index: number, until: number): Promise<void> {
  const client = new Client(port);
  for (let round = 0; Date.now() < until; round++) {
    const created = await client.request('prompt', 'POST', '/generate/prompt', {
      prompt: text(20 + (round % 200)),
      username: `soak-client-${index}`,
      params: { n: 1 + (round % 3), max_length: 80, temperature: 0.7 },
    });
    if (created.status !== 200) {
      await sleep(100);
      continue;
    }
    // Poll until done, a bounded number of times; a slot held by a vanished bridge may keep it waiting.
    for (let poll = 0; poll < 20 && Date.now() < until; poll++) {
      await sleep(100);
      const status = await client.request('status', 'GET', `/generate/prompt/${created.json.id}`, undefined, [404]);
      if (status.status !== 200 || status.json.done) break;
    }
    if (round % 10 === 0) await client.request('status (unknown id)', 'GET', '/generate/prompt/00000000-0000-4000-8000-000000000000', undefined, [404]);
    if (round % 20 === 0) {
      await client.request('servers', 'GET', '/servers');
      await client.request('models', 'GET', '/models');
      await client.request('usage', 'GET', '/usage');
      await client.request('contributions', 'GET', '/contributions');
    }
  }
  client.close();
}

/** Sync requests give up after 20 s; one still waiting when the soak ends is dropped then. */
async function syncClient(port: number, index: number, until: number): Promise<void> {
  const client = new Client(port, 20_000);
  const end = setTimeout(() => client.close(), until - Date.now());
  for (let round = 0; Date.now() < until; round++) {
    const answer = await client.request('sync', 'POST', '/generate/sync', { prompt: text(30), username: `soak-sync-${index}`, params: { n: 1 + (round % 2) } }, [503]);
    if (answer.status === 200) stats.syncCompleted += 1;
    else await sleep(100);
  }
  clearTimeout(end);
  client.close();
}

function startServer(port: number, dataDir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--require', PRELOAD, MAIN], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      RATE_LIMITS: 'off',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'log',
      NO_COLOR: '1',
      // Used once job deadlines exist: a vanished bridge's slot goes back to the queue after 5 s.
      GENERATION_TIMEOUT_MIN_SECONDS: '5',
      SWEEP_INTERVAL_SECONDS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('listening on')) resolve(child);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`)));
  });
}

function ask(child: ChildProcess, message: 'soak:reset' | 'soak:report'): Promise<Report> {
  return new Promise((resolve) => {
    const onMessage = (report: Report): void => {
      if (report.type !== message) return;
      child.off('message', onMessage);
      resolve(report);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function main(): Promise<void> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first`);
  const dataDir = mkdtempSync(join(tmpdir(), 'kc-soak-'));
  const port = await freePort();
  const child = await startServer(port, dataDir);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    // One generation first, so the tokenizer's tables are loaded before the start figures are taken.
    const warmUp = new Client(port);
    const bridge = { username: 'soak-warm-up', password: 'warm-up', name: 'soak-warm-up', model: 'warm-up/model' };
    await warmUp.request('warm-up', 'POST', '/generate/prompt', { prompt: 'warm up', models: ['warm-up/model'] });
    const job = await warmUp.request('warm-up', 'POST', '/generate/pop', bridge);
    await warmUp.request('warm-up', 'POST', '/generate/submit', { id: job.json?.id, password: bridge.password, generation: ' warmed up.' });
    warmUp.close();
    const start = await ask(child, 'soak:reset');
    const startedAt = Date.now();
    const until = startedAt + SECONDS * 1000;
    console.log(`Soak: ${SECONDS} s against dist/main.js on port ${port}: ${WORKERS} bridges, ${VANISHING_WORKERS} vanishing bridges, ${CLIENTS} prompt clients, ${SYNC_CLIENTS} sync clients`);
    const workers = Array.from({ length: WORKERS }, (_, i) => worker(port, i, until));
    await sleep(500); // bridges check in first, so sync requests find a server
    await Promise.all([
      ...workers,
      ...Array.from({ length: VANISHING_WORKERS }, (_, i) => vanishingWorker(port, i, until)),
      ...Array.from({ length: CLIENTS }, (_, i) => promptClient(port, i, until)),
      ...Array.from({ length: SYNC_CLIENTS }, (_, i) => syncClient(port, i, until)),
    ]);
    const elapsed = (Date.now() - startedAt) / 1000;
    const end = await ask(child, 'soak:report');
    child.kill('SIGTERM');
    const exitCode = await exited;

    const errors = [...stats.errors.values()].reduce((a, b) => a + b, 0);
    const loop = end.loopDelayMs ?? { p50: NaN, p99: NaN, max: NaN };
    console.log(
      [
        `Requests sent: ${stats.requests} in ${elapsed.toFixed(1)} s (${Math.round(stats.requests / elapsed)}/s)`,
        `Errors: ${errors}${errors ? ` ${JSON.stringify(Object.fromEntries(stats.errors))}` : ''}`,
        `Statuses: ${JSON.stringify(Object.fromEntries(stats.byStatus))}`,
        `By route: ${JSON.stringify(Object.fromEntries(stats.byRoute))}`,
        `Generations submitted: ${stats.generations}; sync requests completed: ${stats.syncCompleted}; slots taken by vanishing bridges: ${stats.slotsAbandoned}`,
        `Server RSS: ${mb(start.rss)} at start → ${mb(end.rss)} at end (V8 heap used ${mb(start.heapUsed)} → ${mb(end.heapUsed)})`,
        `Event-loop delay: p50 ${loop.p50} ms, p99 ${loop.p99} ms, max ${loop.max} ms`,
        `Server exit code after SIGTERM: ${exitCode}`,
      ].join('\n'),
    );
    if (errors > 0 || exitCode !== 0) process.exitCode = 1;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
