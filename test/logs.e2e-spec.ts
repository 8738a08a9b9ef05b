import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, NodeProcess, waitFor } from './support/processes';

/**
 * Logs of the built server (dist/main.js) as an operator reads them: LOG_FORMAT=json, the access log,
 * escaping of what users choose (log injection), and the one line a failed start prints.
 */

jest.setTimeout(30_000);

const PROMPT = 'The vault code is 7-4-1-9 and nobody may know it';
const GENERATION = ' and the secret generation stays secret too';
const PASSWORD = 'hunter2-server-password';
const processes: NodeProcess[] = [];
const dirs: string[] = [];

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kc-logs-e2e-'));
  dirs.push(dir);
  return dir;
}

async function startServer(env: Record<string, string>): Promise<{ url: string; server: NodeProcess }> {
  const port = await freePort();
  const server = new NodeProcess(`server:${port}`, 'dist/main.js', [], { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir(), RATE_LIMITS: 'off', ...env });
  processes.push(server);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`the server on ${url}`, async () => {
    if (!server.running) throw new Error(`server exited:\n${server.output}`);
    return (await fetch(`${url}/health`)).ok;
  });
  return { url, server };
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** A request made, popped, submitted and read, plus a few failures: lines of every kind. */
async function exercise(url: string, serverName: string): Promise<void> {
  const created = (await (await post(`${url}/generate/prompt`, { prompt: PROMPT, username: 'db0', params: { n: 1 } })).json()) as { id: string };
  const pop = (await (await post(`${url}/generate/pop`, { username: 'owner', password: PASSWORD, name: serverName, model: 'm' })).json()) as { id: string };
  expect(pop.id).toEqual(expect.any(String));
  expect((await post(`${url}/generate/submit`, { id: pop.id, password: PASSWORD, generation: GENERATION })).status).toBe(200);
  expect((await post(`${url}/generate/submit`, { id: pop.id, password: `${PASSWORD}-wrong`, generation: GENERATION })).status).toBe(401);
  expect((await post(`${url}/generate/pop`, { username: 'owner', password: `${PASSWORD}-wrong`, name: serverName, model: 'm' })).status).toBe(401);
  expect((await fetch(`${url}/generate/prompt/${created.id}?token=${PASSWORD}`)).status).toBe(200);
  expect((await fetch(`${url}/no/such/route`)).status).toBe(404);
}

afterAll(async () => {
  for (const p of processes) await p.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('LOG_FORMAT=json (e2e, real process)', () => {
  it('prints one JSON object per line, with time, level, context and message, and an access line per request', async () => {
    const { url, server } = await startServer({ LOG_FORMAT: 'json', ACCESS_LOG: 'on' });
    await exercise(url, 'json-server');
    await waitFor('the access line of the 404', () => Promise.resolve(server.lines.some((l) => l.includes('/no/such/route'))));
    server.kill('SIGTERM');
    await server.exited;

    expect(server.lines.length).toBeGreaterThan(20);
    const entries = server.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const entry of entries) {
      expect(entry).toEqual(expect.objectContaining({ time: expect.any(String), level: expect.any(String), message: expect.any(String) }));
      expect(new Date(entry.time as string).toISOString()).toBe(entry.time);
      expect(['info', 'warn', 'error', 'debug', 'verbose', 'fatal']).toContain(entry.level);
    }
    expect(entries).toContainEqual(expect.objectContaining({ level: 'info', context: 'Bootstrap', message: expect.stringContaining('listening on') }));
    const access = entries.filter((e) => e.context === 'HTTP');
    expect(access).toContainEqual(expect.objectContaining({ method: 'POST', path: '/generate/submit', status: 401, duration_ms: expect.any(Number) }));
    expect(access).toContainEqual(expect.objectContaining({ method: 'GET', path: '/no/such/route', status: 404 }));
    // The query string is never logged.
    expect(access).toContainEqual(expect.objectContaining({ method: 'GET', path: expect.stringMatching(/^\/generate\/prompt\/[0-9a-f-]+$/), status: 200 }));
  });
});

describe('The access log (e2e, real process)', () => {
  it.each(['on', 'quiet'])('never contains a password, a prompt or a generation (ACCESS_LOG=%s), and logs requests that did not succeed', async (mode) => {
    const { url, server } = await startServer({ ACCESS_LOG: mode, LOG_LEVEL: 'verbose' });
    await exercise(url, `access-${mode}`);
    await waitFor('the access line of the 404', () => Promise.resolve(server.lines.some((l) => l.includes('/no/such/route'))));
    const output = server.output;
    expect(output).not.toContain(PASSWORD);
    expect(output).not.toContain(PROMPT);
    expect(output).not.toContain(GENERATION.trim());
    expect(output).toMatch(/\[HTTP\] POST \/generate\/submit 401 [\d.]+ ms 127\.0\.0\.1/);
    expect(output).toMatch(/\[HTTP\] POST \/generate\/pop 401 /);
    expect(output).toMatch(/\[HTTP\] POST \/generate\/prompt 200 /);
    if (mode === 'on') {
      expect(output).toMatch(/\[HTTP\] POST \/generate\/pop 200 /);
      expect(output).toMatch(/\[HTTP\] GET \/generate\/prompt\/[0-9a-f-]+ 200 /);
    } else {
      // Quiet: successful pops and status reads are left out, the rest is there.
      expect(output).not.toMatch(/\[HTTP\] POST \/generate\/pop 200 /);
      expect(output).not.toMatch(/\[HTTP\] GET \/generate\/prompt\/[0-9a-f-]+ 200 /);
      expect(output).toMatch(/\[HTTP\] POST \/generate\/submit 200 /);
    }
  });

  it('adds no line with ACCESS_LOG=off', async () => {
    const { url, server } = await startServer({ ACCESS_LOG: 'off' });
    await exercise(url, 'access-off');
    server.kill('SIGTERM');
    await server.exited;
    expect(server.output).toContain('listening on');
    expect(server.output).not.toContain('[HTTP]');
  });
});

describe('Log injection (e2e, real process)', () => {
  const EVIL = 'evil\r\nERROR [Fake] x\u001b[2J\u202e';

  // Names with control, bidi or invisible characters are refused before anything is logged (see "Names");
  // the logger escapes such characters anyway, whatever reaches it (src/common/logging/app-logger.spec.ts).
  it.each(['text', 'json'])('a server name, username and model with CR, LF, ESC and bidi characters forge no line (LOG_FORMAT=%s)', async (format) => {
    const { url, server } = await startServer({ LOG_FORMAT: format, ACCESS_LOG: 'on' });
    const pop = await post(`${url}/generate/pop`, { username: `u${EVIL}`, password: 'p', name: `n${EVIL}`, model: `m${EVIL}` });
    expect(pop.status).toBe(400);
    expect(await pop.text()).toMatch(/must not contain control, bidirectional-override or invisible characters.*U\+000D/);
    await waitFor('the access log line', () => Promise.resolve(server.lines.some((l) => l.includes('/generate/pop 400'))));
    server.kill('SIGTERM');
    await server.exited;
    const raw = server.output;
    expect(raw).not.toContain('\u001b');
    expect(raw).not.toContain('\r');
    expect(raw).not.toContain('\u202e');
    // Every line is a line of the logger: none starts with the forged text, and none carries it.
    for (const line of server.lines) {
      if (format === 'json') expect(() => JSON.parse(line)).not.toThrow();
      else expect(line).toMatch(/^\[Nest\] \d+ {2}- /);
    }
    expect(server.lines.filter((l) => l.includes('ERROR [Fake]'))).toHaveLength(0);
  });
});

describe('A start that fails (e2e, real process)', () => {
  async function failedStart(env: Record<string, string>): Promise<{ code: number | null; stderr: string[]; stdout: string[] }> {
    const server = new NodeProcess('failing-server', 'dist/main.js', [], { HOST: '127.0.0.1', PORT: String(await freePort()), ...env });
    processes.push(server);
    const { code } = await server.exited;
    const stderr = server.stderrLines.filter((l) => l.trim() !== '');
    return { code, stderr, stdout: server.lines.filter((l) => !server.stderrLines.includes(l) && l.trim() !== '') };
  }

  it.each([
    ['a corrupt users.json', '{"version":1,"users":[{"username":', /users\.json is corrupt/],
    ['a truncated (empty) users.json', '', /users\.json is corrupt/],
  ])('prints one line naming the file on stderr and exits 1, for %s', async (_what, content, pattern) => {
    const dir = dataDir();
    writeFileSync(join(dir, 'users.json'), content);
    const result = await failedStart({ DATA_DIR: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([expect.stringMatching(pattern)]);
    expect(result.stdout).toEqual([]);
  });

  it('names the data directory that is a file', async () => {
    const file = join(dataDir(), 'not-a-directory');
    writeFileSync(file, 'x');
    const result = await failedStart({ DATA_DIR: file });
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([expect.stringMatching(/not-a-directory\/\w+\.json: a part of the path is a file, not a directory \(ENOTDIR\); check DATA_DIR/)]);
  });

  it.each([
    ['PORT', 'eighty'],
    ['LOG_LEVEL', 'loud'],
    ['TRUST_PROXY', '10.0.0.999'],
  ])('names the bad variable %s', async (name, value) => {
    const result = await failedStart({ DATA_DIR: dataDir(), [name]: value });
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([expect.stringContaining(`Invalid configuration: ${name}=`)]);
  });

  it('names the port that is taken', async () => {
    const blocker: Server = createServer();
    const port = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)));
    try {
      const result = await failedStart({ DATA_DIR: dataDir(), PORT: String(port) });
      expect(result.code).toBe(1);
      expect(result.stderr).toEqual([expect.stringContaining(`port ${port} on 127.0.0.1 is already in use`)]);
    } finally {
      blocker.close();
    }
  });

  it('prints the failure as JSON with LOG_FORMAT=json', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'users.json'), '{');
    const result = await failedStart({ DATA_DIR: dir, LOG_FORMAT: 'json' });
    expect(result.code).toBe(1);
    expect(result.stderr).toHaveLength(1);
    expect(JSON.parse(result.stderr[0])).toEqual(expect.objectContaining({ level: 'error', context: 'Bootstrap', message: expect.stringContaining('users.json') }));
  });
});
