import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, NodeProcess, waitFor } from './support/processes';

/**
 * The bridge and the KoboldAI simulator as real processes against the built server (dist/, fresh
 * from `pretest: nest build`), each on an ephemeral port.
 */

jest.setTimeout(30_000);

const SECRET_PROMPT = 'The vault code is 7-4-1-9 and nobody may know it';
const all: NodeProcess[] = [];
const dataDirs: string[] = [];

interface Cluster {
  url: string;
  port: number;
  dataDir: string;
  process: NodeProcess;
}

async function startServer(port?: number, dataDir?: string): Promise<Cluster> {
  const p = port ?? (await freePort());
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'kc-bridge-e2e-'));
  if (!dataDir) dataDirs.push(dir);
  const server = new NodeProcess(`server:${p}`, 'dist/main.js', [], {
    PORT: String(p),
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    RATE_LIMITS: 'off',
    SNAPSHOT_INTERVAL_SECONDS: '1',
    LOG_LEVEL: 'warn',
  });
  all.push(server);
  const url = `http://127.0.0.1:${p}`;
  await waitFor(`the server on ${url}`, async () => {
    if (!server.running) throw new Error(`server exited:\n${server.output}`);
    return (await fetch(`${url}/servers`)).ok;
  });
  return { url, port: p, dataDir: dir, process: server };
}

async function startSimulator(model: string, ...flags: string[]): Promise<{ url: string; process: NodeProcess }> {
  const sim = new NodeProcess(`sim:${model}`, 'dist/kai-sim/main.js', ['--port', '0', '--model', model, ...flags]);
  all.push(sim);
  const line = await sim.waitForLine(/listening on http:\/\/[\d.]+:\d+/);
  return { url: /(http:\/\/[\d.]+:\d+)/.exec(line)![1], process: sim };
}

function startBridge(label: string, args: string[], env: Record<string, string> = {}): NodeProcess {
  const bridge = new NodeProcess(`bridge:${label}`, 'dist/bridge/main.js', ['-i', '0.1', '--max-backoff', '0.5', ...args], env);
  all.push(bridge);
  return bridge;
}

interface ServerInfo {
  id: string;
  name: string;
  model: string;
  max_length: number;
  max_content_length: number;
  tokens_generated: number;
  requests_fulfilled: number;
}

interface PromptStatus {
  finished: number;
  processing: number;
  waiting: number;
  done: boolean;
  generations: string[];
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return (await response.json()) as T;
}

async function createRequest(cluster: Cluster, body: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${cluster.url}/generate/prompt`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: SECRET_PROMPT, username: 'carol', ...body }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { id: string }).id;
}

const status = (cluster: Cluster, id: string) => getJson<PromptStatus>(`${cluster.url}/generate/prompt/${id}`);
const waitDone = (cluster: Cluster, id: string, timeoutMs = 15_000) =>
  waitFor(
    `request ${id} to be done`,
    async () => {
      const current = await status(cluster, id);
      return current.done ? current : false;
    },
    timeoutMs,
  );
const serverNamed = async (cluster: Cluster, name: string) => (await getJson<ServerInfo[]>(`${cluster.url}/servers`)).find((s) => s.name === name);

afterAll(async () => {
  await Promise.all(all.map((p) => p.stop()));
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

describe('Bridge and KoboldAI simulator (e2e, real processes)', () => {
  let cluster: Cluster;
  const generations: string[] = [];

  beforeAll(async () => {
    cluster = await startServer();
  });

  it('two bridges with different models share a request for n: 4 without models', async () => {
    const alpha = await startSimulator('sim/alpha', '--delay-ms', '200');
    const beta = await startSimulator('sim/beta', '--delay-ms', '200', '--max-length', '40', '--max-context-length', '2048');
    // One password as a flag, the other from the environment.
    startBridge('alpha', ['-u', 'alice', '-p', 'alice-secret-pw', '-n', 'Alpha Box', '-k', alpha.url, '-c', cluster.url]);
    startBridge('beta', ['--username', 'bob', '--kai_name', 'Beta Box', '--kai_url', beta.url, '--cluster_url', cluster.url], { BRIDGE_PASSWORD: 'bob-secret-pw' });
    await waitFor('both servers to check in', async () => (await serverNamed(cluster, 'Alpha Box')) && (await serverNamed(cluster, 'Beta Box')));

    const id = await createRequest(cluster, { params: { n: 4, max_length: 16 } });
    const done = await waitDone(cluster, id);
    expect(done).toMatchObject({ finished: 4, done: true });
    expect(done.generations).toHaveLength(4);
    generations.push(...done.generations);

    const servers = await waitFor('the stats of both servers', async () => {
      const a = await serverNamed(cluster, 'Alpha Box');
      const b = await serverNamed(cluster, 'Beta Box');
      return a && b && a.requests_fulfilled + b.requests_fulfilled === 4 ? { a, b } : false;
    });
    expect(servers.a).toMatchObject({ model: 'sim/alpha', max_length: 80, max_content_length: 1024 });
    expect(servers.b).toMatchObject({ model: 'sim/beta', max_length: 40, max_content_length: 2048 });
    expect(servers.a.requests_fulfilled).toBeGreaterThanOrEqual(1);
    expect(servers.b.requests_fulfilled).toBeGreaterThanOrEqual(1);
    const contributions = await getJson<Record<string, number>>(`${cluster.url}/contributions`);
    expect(contributions.alice).toBeGreaterThan(0);
    expect(contributions.bob).toBeGreaterThan(0);
    expect(contributions.alice + contributions.bob).toBe(servers.a.tokens_generated + servers.b.tokens_generated);
  });

  it('gets its jobs done through a KoboldAI that answers 503 to every other call', async () => {
    const flaky = await startSimulator('sim/flaky', '--delay-ms', '50', '--fail-every', '2');
    const bridge = startBridge('flaky', ['-u', 'dave', '-p', 'dave-secret-pw', '-n', 'Flaky Box', '-k', flaky.url, '-c', cluster.url, '--max-backoff', '0.1']);
    const id = await createRequest(cluster, { params: { n: 3, max_length: 16 }, models: ['sim/flaky'] });
    const done = await waitDone(cluster, id);
    expect(done).toMatchObject({ finished: 3, done: true });
    generations.push(...done.generations);
    expect(await waitFor('the flaky server stats', async () => (await serverNamed(cluster, 'Flaky Box'))?.requests_fulfilled === 3)).toBe(true);
    expect(bridge.lines.filter((l) => /WARN .*busy \(503/.test(l)).length).toBeGreaterThanOrEqual(3);
    expect(bridge.lines.filter((l) => /INFO {2}Job [0-9a-f-]{36}: \d+ tokens in [\d.]+ s \([\d.]+ tokens\/s\)$/.test(l))).toHaveLength(3);
  });

  it('refuses to run with the wrong password for a taken name: exits 1, never printing the password', async () => {
    const alpha = await startSimulator('sim/alpha2', '--delay-ms', '10');
    const bridge = startBridge('intruder', ['-u', 'mallory', '-p', 'mallory-guess-pw', '-n', 'Alpha Box', '-k', alpha.url, '-c', cluster.url]);
    expect((await bridge.exited).code).toBe(1);
    expect(bridge.output).toMatch(/refused the password for server "Alpha Box"/);
    expect(bridge.output).not.toContain('mallory-guess-pw');
  });

  it('SIGINT during a job: the job is submitted, then the bridge exits 0', async () => {
    const slow = await startSimulator('sim/slow', '--delay-ms', '1500');
    const bridge = startBridge('slow', ['-u', 'erin', '-p', 'erin-secret-pw', '-n', 'Slow Box', '-k', slow.url, '-c', cluster.url]);
    const id = await createRequest(cluster, { params: { n: 1, max_length: 16 }, models: ['sim/slow'] });
    await waitFor('the slow bridge to take the job', async () => (await status(cluster, id)).processing === 1);
    bridge.kill('SIGINT');
    const { code } = await bridge.exited;
    expect(code).toBe(0);
    expect(await status(cluster, id)).toMatchObject({ finished: 1, processing: 0, done: true });
    expect(bridge.output).toMatch(/SIGINT: stopping after job [0-9a-f-]{36} is submitted/);
    expect(bridge.output).toMatch(/Job [0-9a-f-]{36}: \d+ tokens in/);
    expect(bridge.lines.at(-1)).toMatch(/Bridge stopped$/);
  });

  it('a second SIGINT exits at once, with the job still running', async () => {
    const stuck = await startSimulator('sim/stuck', '--delay-ms', '20000');
    const bridge = startBridge('stuck', ['-u', 'frank', '-p', 'frank-secret-pw', '-n', 'Stuck Box', '-k', stuck.url, '-c', cluster.url]);
    const id = await createRequest(cluster, { params: { n: 1, max_length: 16 }, models: ['sim/stuck'] });
    await waitFor('the stuck bridge to take the job', async () => (await status(cluster, id)).processing === 1);
    bridge.kill('SIGINT');
    await bridge.waitForLine(/SIGINT: stopping after job/);
    const started = Date.now();
    bridge.kill('SIGINT');
    expect((await bridge.exited).code).toBe(130);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(bridge.output).toMatch(/SIGINT again: quitting at once; job [0-9a-f-]{36} is abandoned/);
  });

  it('survives a cluster restart on the same DATA_DIR: holds the finished text, retries with back-off, serves on', async () => {
    let restartable = await startServer();
    const sim = await startSimulator('sim/restart', '--delay-ms', '2500');
    const bridge = startBridge('restart', ['-u', 'grace', '-p', 'grace-secret-pw', '-n', 'Restart Box', '-k', sim.url, '-c', restartable.url, '--max-backoff', '2']);
    const before = await waitFor('the server to check in', () => serverNamed(restartable, 'Restart Box'));

    const id = await createRequest(restartable, { params: { n: 1, max_length: 16 } });
    await waitFor('the bridge to take the job', async () => (await status(restartable, id)).processing === 1);
    restartable.process.kill('SIGTERM');
    // The server flushes its snapshots on SIGTERM and exits cleanly.
    expect(await restartable.process.exited).toEqual({ code: 0, signal: null });

    // The generation finishes while the cluster is down: the bridge keeps it and retries, backing off.
    await bridge.waitForLine(/WARN .*Job [0-9a-f-]{36}: submit failed, the cluster at .* is unreachable .*keeping the generation, retry 3 in/, 10_000);
    const delays = bridge.lines.filter((l) => /submit failed/.test(l)).map((l) => Number(/retry \d+ in ([\d.]+) s/.exec(l)![1]));
    expect(delays[1]).toBeGreaterThan(delays[0]); // 0.5 s, 1 s, 2 s, less up to 20 % jitter
    expect(delays[2]).toBeGreaterThan(delays[1]);
    expect(bridge.running).toBe(true);

    restartable = await startServer(restartable.port, restartable.dataDir);
    // The submit reaches the restarted cluster, which lost the in-memory job: 404, the bridge moves on.
    await bridge.waitForLine(/WARN .*Job [0-9a-f-]{36} went stale: the cluster no longer knows it/, 10_000);
    // Same server identity (reloaded from DATA_DIR), and the same password still accepted.
    const after = await waitFor('the server to check in again', () => serverNamed(restartable, 'Restart Box'));
    expect(after.id).toBe(before.id);

    const next = await createRequest(restartable, { params: { n: 1, max_length: 16 } });
    const done = await waitDone(restartable, next);
    generations.push(...done.generations);
    expect(bridge.running).toBe(true);
    expect(bridge.output).not.toMatch(/ERROR/);
  });

  it('never printed a password, a prompt or a generation', () => {
    expect(generations.length).toBeGreaterThanOrEqual(8);
    const output = all.map((p) => p.output).join('\n');
    for (const secret of ['alice-secret-pw', 'bob-secret-pw', 'dave-secret-pw', 'erin-secret-pw', 'frank-secret-pw', 'grace-secret-pw', 'mallory-guess-pw', SECRET_PROMPT, ...generations.map((g) => g.trim())]) {
      expect(output).not.toContain(secret);
    }
  });
});
