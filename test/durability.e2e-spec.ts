/**
 * What a crash or a bad disk does to the built server (dist/main.js, made by `npm test`'s pretest build).
 *
 * kill -9: under steady pop/submit load, with snapshots only every hour (so whatever survives comes from
 * the journals), a server registered 1 s before the kill survives with its password, and the acknowledged
 * tokens lost are at most one second's worth at the measured rate. A torn last journal line (the crash
 * cut a write short) is tolerated, everything before it kept.
 *
 * Unwritable data directory: the snapshots fail, the server says so, /health/ready answers 503 naming the
 * failure, and its exit code after SIGTERM is not 0, because the final snapshot could not be written.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { countTokens } from '../src/generation/domain/token-counter';
import { JsonClient } from './support/json-client';
import { freePort, NodeProcess, waitFor } from './support/processes';
import { makeDataDir, removeDataDir } from './support/test-app';

jest.setTimeout(60_000);

const MAIN = join(__dirname, '..', 'dist', 'main.js');
const WORKERS = 4;
const CLIENTS = 2;
/** How long the load runs before the kill, in ms. */
const LOAD_MS = 4000;
const SECRET_PROMPT = 'secret-prompt-marker';
const SECRET_GENERATION = ' secret-generation-marker';
/** `nobody`: when the tests run as root, the server runs as this user so that file permissions bind it. */

interface Running {
  proc: NodeProcess;
  port: number;
}

async function startServer(dataDir: string, env: Record<string, string> = {}, user?: { uid: number; gid: number }): Promise<Running> {
  const port = await freePort();
  const proc = new NodeProcess(
    'cluster',
    'dist/main.js',
    [],
    { PORT: String(port), HOST: '127.0.0.1', RATE_LIMITS: 'off', DATA_DIR: dataDir, LOG_LEVEL: 'log', NO_COLOR: '1', ...env },
    user,
  );
  running.push(proc);
  await proc.waitForLine(/listening on/);
  return { proc, port };
}

const running: NodeProcess[] = [];
const sum = (values: Iterable<number>): number => [...values].reduce((a, b) => a + b, 0);

describe('Durability of the built server (e2e, real processes)', () => {
  let dataDir: string;

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (npm test does it first)`);
  });

  beforeEach(() => {
    dataDir = makeDataDir();
  });

  afterEach(async () => {
    for (const proc of running.splice(0)) await proc.stop();
    if (process.env.KEEP_DATA) console.log(dataDir); else removeDataDir(dataDir);
  });

  it('kill -9 under load: a registration made 1 s before survives with its password; at most 1 s of acknowledged tokens is lost', async () => {
    const first = await startServer(dataDir, { SNAPSHOT_INTERVAL_SECONDS: '3600' });
    const acknowledged: { owner: string; user: string; reward: number; at: number }[] = [];
    let unanswered = 0;
    const unexpected: string[] = [];
    let killed = false;
    const clients: JsonClient[] = [];
    const client = (): JsonClient => {
      const c = new JsonClient(first.port);
      clients.push(c);
      return c;
    };

    const worker = async (index: number): Promise<void> => {
      const http = client();
      const server = { username: `owner-${index}`, password: `password-${index}`, name: `worker-${index}`, model: 'crash/model', max_length: 512, max_content_length: 2048 };
      for (let round = 0; !killed; round++) {
        let pop;
        try {
          pop = await http.request('POST', '/generate/pop', server);
        } catch {
          return;
        }
        if (pop.status !== 200) return void unexpected.push(`pop answered ${pop.status}: ${JSON.stringify(pop.json)}`);
        if (pop.json.id === null) {
          await new Promise((resolve) => setTimeout(resolve, 2));
          continue;
        }
        const user = String(pop.json.payload.prompt).split(' ')[0];
        const generation = SECRET_GENERATION + ' and then'.repeat(1 + ((index * 7 + round) % 25));
        let submit;
        try {
          submit = await http.request('POST', '/generate/submit', { id: pop.json.id, password: server.password, generation });
        } catch {
          unanswered += countTokens(generation);
          return;
        }
        if (submit.status !== 200) return void unexpected.push(`submit answered ${submit.status}: ${JSON.stringify(submit.json)}`);
        acknowledged.push({ owner: server.username, user, reward: submit.json.reward, at: Date.now() });
      }
    };
    const creator = async (index: number): Promise<void> => {
      const http = client();
      for (let round = 0; !killed; round++) {
        try {
          const created = await http.request('POST', '/generate/prompt', { prompt: `client-${index} ${SECRET_PROMPT} ${round}`, username: `client-${index}`, params: { n: 1 + (round % 3) } });
          // 429: this client already has MAX_WAITING_REQUESTS_PER_USER unfinished requests; the workers catch up.
          if (created.status !== 200 && created.status !== 429) return void unexpected.push(`create answered ${created.status}: ${JSON.stringify(created.json)}`);
          await new Promise((resolve) => setTimeout(resolve, created.status === 429 ? 20 : 3));
        } catch {
          return;
        }
      }
    };

    const loadStart = Date.now();
    const load = [...Array.from({ length: WORKERS }, (_, i) => worker(i)), ...Array.from({ length: CLIENTS }, (_, i) => creator(i))];
    await new Promise((resolve) => setTimeout(resolve, LOAD_MS - 1000));
    // The registration: the first pop with a new name, answered 1 s before the kill.
    const registrar = client();
    const registration = await registrar.request('POST', '/generate/pop', { username: 'late', password: 'right-password', name: 'late-registration', model: 'other/model' });
    expect(registration.status).toBe(200);
    const registeredAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const killedAt = Date.now();
    first.proc.kill('SIGKILL');
    killed = true;
    expect(await first.proc.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await Promise.all(load);
    for (const c of clients) c.close();
    expect(unexpected).toEqual([]);

    // The crash cut a journal write short.
    appendFileSync(join(dataDir, 'users.journal'), '{"u":"torn","usage":12');

    // Nothing private reached the disk.
    for (const file of readdirSync(dataDir)) {
      const text = readFileSync(join(dataDir, file), 'utf8');
      expect(text).not.toContain(SECRET_PROMPT);
      expect(text).not.toContain('secret-generation-marker');
      expect(text).not.toMatch(/password-\d|right-password/);
    }

    const second = await startServer(dataDir, { SNAPSHOT_INTERVAL_SECONDS: '3600' });
    const reader = new JsonClient(second.port);
    const usage = (await reader.request('GET', '/usage')).json as Record<string, number>;
    const contributions = (await reader.request('GET', '/contributions')).json as Record<string, number>;
    const wrong = await reader.request('POST', '/generate/pop', { username: 'thief', password: 'another-password', name: 'late-registration', model: 'other/model' });
    const right = await reader.request('POST', '/generate/pop', { username: 'late', password: 'right-password', name: 'late-registration', model: 'other/model' });
    reader.close();

    expect(wrong.status).toBe(401);
    expect(right.status).toBe(200);
    expect(usage.torn).toBeUndefined();

    const ackedTotal = sum(acknowledged.map((a) => a.reward));
    const byUser = new Map<string, number>();
    for (const a of acknowledged) byUser.set(a.user, (byUser.get(a.user) ?? 0) + a.reward);
    const lost = sum([...byUser].map(([user, tokens]) => Math.max(0, tokens - (usage[user] ?? 0))));
    const ratePerSecond = (ackedTotal / (killedAt - loadStart)) * 1000;
    const lastSecond = sum(acknowledged.filter((a) => a.at > killedAt - 1000).map((a) => a.reward));
    const usageTotal = sum(Object.values(usage));
    console.log(
      `kill -9 test: ${acknowledged.length} submits acknowledged (${ackedTotal} tokens) in ${killedAt - loadStart} ms (${Math.round(ratePerSecond)} tokens/s; ${lastSecond} in the last second); ` +
        `after restart /usage = ${usageTotal}, /contributions = ${sum(Object.values(contributions))}; lost ${lost} acknowledged tokens ` +
        `(${((lost / ratePerSecond) * 1000).toFixed(0)} ms of the rate); registration ${killedAt - registeredAt} ms before the kill: wrong password ${wrong.status}, right password ${right.status}`,
    );
    expect(acknowledged.length).toBeGreaterThan(100);
    expect(lost).toBeLessThanOrEqual(ratePerSecond);
    // Usage and contributions come from the same credits; nothing is credited that no worker submitted.
    expect(sum(Object.values(contributions))).toBe(usageTotal);
    expect(usageTotal).toBeLessThanOrEqual(ackedTotal + unanswered);
  });

  it('unwritable data directory: the server says the snapshot cannot be written, readiness answers 503, and it exits non-zero after SIGTERM', async () => {
    // The data directory is moved away while serving and a file put in its place: every new write there
    // fails (as it does on a read-only or vanished mount), for root too, whom permissions do not bind.
    // Files the server already holds open (the journals) still take writes, as on a disk gone read-only
    // after they were opened.
    const live = join(dataDir, 'live');
    const movedAway = join(dataDir, 'moved-away');
    mkdirSync(live);
    const server = await startServer(live, { SNAPSHOT_INTERVAL_SECONDS: '1' });
    const http = new JsonClient(server.port);
    const bridge = { username: 'owner', password: 'pw', name: 'disk', model: 'disk/model' };
    const cycle = async (): Promise<number> => {
      expect((await http.request('POST', '/generate/prompt', { prompt: 'p', username: 'alice' })).status).toBe(200);
      const pop = await http.request('POST', '/generate/pop', bridge);
      const submit = await http.request('POST', '/generate/submit', { id: pop.json.id, password: 'pw', generation: ' forty two tokens or so' });
      expect(submit.status).toBe(200);
      return submit.json.reward as number;
    };
    let acknowledged = await cycle();
    await waitFor('users.json', () => Promise.resolve(existsSync(join(live, 'users.json'))));
    expect((await http.request('GET', '/health/ready')).status).toBe(200);

    renameSync(live, movedAway);
    writeFileSync(live, 'not a directory');
    for (let i = 0; i < 4; i++) acknowledged += await cycle();
    const error = await server.proc.waitForLine(/ERROR .*Could not write the users snapshot/, 5000);
    expect(error).toMatch(/EEXIST|ENOTDIR/);
    const ready = await http.request('GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.json.message).toMatch(/persistence: .*the users snapshot could not be written: (EEXIST|ENOTDIR)/);

    server.proc.kill('SIGTERM');
    const exit = await server.proc.exited;
    http.close();
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(server.proc.output).toMatch(/final snapshot could not be written .*users snapshot could not be written: (EEXIST|ENOTDIR)/);

    // The journal was opened before the directory went away, so it still took every credit.
    rmSync(live);
    renameSync(movedAway, live);
    const again = await startServer(live, {});
    const reader = new JsonClient(again.port);
    const usage = (await reader.request('GET', '/usage')).json as Record<string, number>;
    reader.close();
    expect(usage).toEqual({ alice: acknowledged });
    console.log(`unwritable data directory: exit code ${exit.code} after SIGTERM; ${acknowledged} acknowledged tokens, ${usage.alice} after the restart (from the journal)`);
  });

  it('refuses to start on a snapshot with a bad entry: exit code 1, one line naming the file and the entry', async () => {
    const server = { id: '019e34e3-3109-4ea9-820a-b0c4f6a53c07', name: 'bad', owner: 'o', model: 'm', maxLength: 80, maxContentLength: 1024, tokensGenerated: 0, requestsFulfilled: 0, recentJobs: [], createdAt: 1, lastSeenAt: 1 };
    writeFileSync(join(dataDir, 'servers.json'), JSON.stringify({ version: 1, servers: [{ ...server, passwordHash: 'scrypt$16385$8$1$c2FsdHNhbHQ=$AAAA' }] }));
    const proc = new NodeProcess('cluster', 'dist/main.js', [], { PORT: String(await freePort()), HOST: '127.0.0.1', DATA_DIR: dataDir, NO_COLOR: '1' });
    running.push(proc);
    expect((await proc.exited).code).toBe(1);
    expect(proc.output).toContain(`${join(dataDir, 'servers.json')} is corrupt: servers[0].passwordHash is not a valid scrypt hash`);
  });
});
