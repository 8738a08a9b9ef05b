/**
 * SIGTERM to the built server (dist/main.js, made by `npm test`'s pretest build) while clients and
 * workers load it, then a restart on the same DATA_DIR. Snapshots are taken only every hour here, so
 * whatever the second process knows was written by the first one's shutdown flush.
 *
 * What is provable from outside: every reward a worker saw acknowledged (200) is in /usage and
 * /contributions after the restart, for the right users; usage and contributions add up to the same
 * total; and the server credited nothing beyond the acknowledged submits plus the submits whose answer
 * was lost to the shutdown (those may or may not have been credited before the connection closed).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { countTokens } from '../src/generation/domain/token-counter';
import { JsonClient } from './support/json-client';
import { freePort } from './support/processes';
import { makeDataDir, removeDataDir } from './support/test-app';

jest.setTimeout(60_000);

const MAIN = join(__dirname, '..', 'dist', 'main.js');
const WORKERS = 4;
const CLIENTS = 4;
const SYNC_CLIENTS = 2;
/** Acknowledged submits to reach before the SIGTERM, so it lands in the middle of real work. */
const SUBMITS_BEFORE_SIGTERM = 150;

interface Running {
  child: ChildProcess;
  port: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

/** Starts dist/main.js and resolves once it logs that it listens (or rejects if it exits first). */
async function startServer(dataDir: string): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      RATE_LIMITS: 'off',
      DATA_DIR: dataDir,
      SNAPSHOT_INTERVAL_SECONDS: '3600',
      // `log`, not `warn`: the "listening" line is what the test waits for.
      LOG_LEVEL: 'log',
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('listening on')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exit.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`)));
  });
  return { child, port, exit, output: () => output };
}

const sum = (values: Iterable<number>): number => [...values].reduce((a, b) => a + b, 0);

describe('SIGTERM under load, then restart on the same DATA_DIR (e2e, built server)', () => {
  let dataDir: string;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (npm test does it first)`);
    dataDir = makeDataDir();
  });

  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    removeDataDir(dataDir);
  });

  it('exits 0 after flushing: every acknowledged reward survives, for the right users, and the totals agree', async () => {
    const started = Date.now();
    const first = await startServer(dataDir);
    children.push(first.child);

    /** Rewards acknowledged with a 200, by worker owner and by requesting user. */
    const acknowledged: { owner: string; user: string; reward: number }[] = [];
    /** Tokens of submits sent whose answer never came: the server may or may not have credited them. */
    let unanswered = 0;
    const errors: Record<string, number> = {};
    const unexpected: string[] = [];
    let terminating = false;
    let workersIn = 0;
    let allCheckedIn!: () => void;
    const workersReady = new Promise<void>((resolve) => (allCheckedIn = resolve));
    const checkedIn = (): void => {
      if (++workersIn === WORKERS) allCheckedIn();
    };
    let reachedLoad!: () => void;
    const loadReached = new Promise<void>((resolve) => (reachedLoad = resolve));
    const clients: JsonClient[] = [];
    const client = (): JsonClient => {
      const c = new JsonClient(first.port);
      clients.push(c);
      return c;
    };
    const noteError = (error: unknown): void => {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      errors[code] = (errors[code] ?? 0) + 1;
      if (!terminating) unexpected.push(`connection error before SIGTERM: ${code}`);
    };

    // Workers: pop, and submit a generation of known token count. The requesting user is in the prompt.
    const worker = async (index: number): Promise<void> => {
      const http = client();
      const server = { username: `owner-${index}`, password: `password-${index}`, name: `worker-${index}`, model: 'shutdown/model', max_length: 512, max_content_length: 2048 };
      for (let round = 0; ; round++) {
        let pop;
        try {
          pop = await http.request('POST', '/generate/pop', server);
        } catch (error) {
          return noteError(error);
        }
        if (pop.status !== 200) return void unexpected.push(`pop answered ${pop.status}: ${JSON.stringify(pop.json)}`);
        if (round === 0) checkedIn();
        if (pop.json.id === null) {
          if (terminating) return;
          await new Promise((resolve) => setTimeout(resolve, 1));
          continue;
        }
        const user = String(pop.json.payload.prompt).split(' ')[0];
        const generation = ' and then'.repeat(1 + ((index * 7 + round) % 25));
        let submit;
        try {
          submit = await http.request('POST', '/generate/submit', { id: pop.json.id, password: server.password, generation });
        } catch (error) {
          unanswered += countTokens(generation);
          return noteError(error);
        }
        if (submit.status !== 200) return void unexpected.push(`submit answered ${submit.status}: ${JSON.stringify(submit.json)}`);
        acknowledged.push({ owner: server.username, user, reward: submit.json.reward });
        if (acknowledged.length === SUBMITS_BEFORE_SIGTERM) reachedLoad();
      }
    };

    // Clients: create requests and poll one now and then; sync clients wait for theirs.
    const creator = async (index: number): Promise<void> => {
      const http = client();
      for (let round = 0; ; round++) {
        try {
          const created = await http.request('POST', '/generate/prompt', { prompt: `client-${index} round ${round}`, username: `client-${index}`, params: { n: 1 + (round % 3) } });
          if (created.status !== 200) return void unexpected.push(`create answered ${created.status}: ${JSON.stringify(created.json)}`);
          if (round % 5 === 0) {
            const status = await http.request('GET', `/generate/prompt/${created.json.id}`);
            if (status.status !== 200) return void unexpected.push(`status answered ${status.status}`);
          }
        } catch (error) {
          return noteError(error);
        }
        // Do not outrun the workers by too much: the queue stays short.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    const syncClient = async (index: number): Promise<void> => {
      const http = client();
      for (let round = 0; ; round++) {
        try {
          const answer = await http.request('POST', '/generate/sync', { prompt: `sync-${index} round ${round}`, username: `sync-${index}`, params: { n: 2 } });
          // 503 is the documented answer of a server that is shutting down or has no worker left.
          if (answer.status !== 200 && !(terminating && answer.status === 503)) return void unexpected.push(`sync answered ${answer.status}: ${JSON.stringify(answer.json)}`);
          if (answer.status !== 200) return;
        } catch (error) {
          return noteError(error);
        }
      }
    };

    // Workers check in first, so sync requests find an active server.
    const workers = Array.from({ length: WORKERS }, (_, i) => worker(i));
    await Promise.race([workersReady, Promise.all(workers)]);
    const load = [...workers, ...Array.from({ length: CLIENTS }, (_, i) => creator(i)), ...Array.from({ length: SYNC_CLIENTS }, (_, i) => syncClient(i))];

    await Promise.race([loadReached, Promise.all(load)]);
    expect(unexpected).toEqual([]);
    terminating = true;
    const sigtermAt = Date.now();
    first.child.kill('SIGTERM');
    const exit = await first.exit;
    const shutdownMs = Date.now() - sigtermAt;
    await Promise.all(load); // every loop ends on its first connection error once the server is gone
    for (const c of clients) c.close();

    expect(exit).toEqual({ code: 0, signal: null });
    expect(unexpected).toEqual([]);
    // Open requests (waiting /generate/sync ones too) are answered, not left to hold the shutdown.
    expect(errors.ETIMEDOUT).toBeUndefined();
    expect(shutdownMs).toBeLessThan(5000);
    expect(first.output()).not.toMatch(/ERROR/);

    const second = await startServer(dataDir);
    children.push(second.child);
    const reader = new JsonClient(second.port);
    const usage = (await reader.request('GET', '/usage')).json as Record<string, number>;
    const contributions = (await reader.request('GET', '/contributions')).json as Record<string, number>;
    reader.close();
    second.child.kill('SIGTERM');
    expect(await second.exit).toEqual({ code: 0, signal: null });

    const ackedTotal = sum(acknowledged.map((a) => a.reward));
    const byOwner = new Map<string, number>();
    const byUser = new Map<string, number>();
    for (const a of acknowledged) {
      byOwner.set(a.owner, (byOwner.get(a.owner) ?? 0) + a.reward);
      byUser.set(a.user, (byUser.get(a.user) ?? 0) + a.reward);
    }
    // Nothing acknowledged is lost, per user and per owner.
    const short = (acked: Map<string, number>, stored: Record<string, number>): string[] =>
      [...acked].filter(([name, tokens]) => (stored[name] ?? 0) < tokens).map(([name, tokens]) => `${name}: ${tokens} acknowledged, ${stored[name] ?? 0} stored`);
    expect(short(byOwner, contributions)).toEqual([]);
    expect(short(byUser, usage)).toEqual([]);
    expect(byOwner.size).toBe(WORKERS);
    // Usage and contributions are two views of the same credits; nothing was credited that no worker submitted.
    const usageTotal = sum(Object.values(usage));
    expect(sum(Object.values(contributions))).toBe(usageTotal);
    expect(usageTotal).toBeGreaterThanOrEqual(ackedTotal);
    expect(usageTotal).toBeLessThanOrEqual(ackedTotal + unanswered);

    console.log(
      `Shutdown test: ${acknowledged.length} submits acknowledged (${ackedTotal} tokens) before and during SIGTERM; ` +
        `after restart /usage = /contributions = ${usageTotal} tokens (unanswered submits: ${unanswered} tokens); ` +
        `exit ${exit.code} after ${shutdownMs} ms; client connection errors after SIGTERM: ${JSON.stringify(errors)}; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });
});
