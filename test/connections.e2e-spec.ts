/**
 * Connections a client opens and then neglects, against the built server (dist/main.js, built by
 * `npm test`'s pretest): they must not hold the server's file descriptors, nor its shutdown.
 * The timeouts are set short through the configuration so that the test runs in seconds; the
 * server-side file descriptors are counted in /proc/<pid>/fd.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { CLIENT_ERROR_LINGER_MS } from '../src/common/http/client-errors';
import { TIMEOUT_CHECK_INTERVAL_MS } from '../src/common/http/http-connections';
import { JsonClient } from './support/json-client';
import { freePort, NodeProcess, waitFor } from './support/processes';
import { makeDataDir, popBody, removeDataDir } from './support/test-app';

jest.setTimeout(60_000);

const MAIN = join('dist', 'main.js');
const HEADERS_TIMEOUT_SECONDS = 1;
const KEEP_ALIVE_TIMEOUT_SECONDS = 1;
/** The most a neglected connection may live: its timeout, Node's check interval, the error answer's linger, and 1 s of slack. */
const RELEASE_WITHIN_MS = HEADERS_TIMEOUT_SECONDS * 1000 + TIMEOUT_CHECK_INTERVAL_MS + CLIENT_ERROR_LINGER_MS + 1000;

interface Started {
  server: NodeProcess;
  port: number;
  dataDir: string;
}

async function start(env: Record<string, string> = {}): Promise<Started> {
  const port = await freePort();
  const dataDir = makeDataDir();
  const server = new NodeProcess('server', MAIN, [], {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    RATE_LIMITS: 'off',
    LOG_LEVEL: 'log',
    NO_COLOR: '1',
    SNAPSHOT_INTERVAL_SECONDS: '3600',
    HEADERS_TIMEOUT_SECONDS: String(HEADERS_TIMEOUT_SECONDS),
    REQUEST_TIMEOUT_SECONDS: '2',
    KEEP_ALIVE_TIMEOUT_SECONDS: String(KEEP_ALIVE_TIMEOUT_SECONDS),
    ...env,
  });
  await server.waitForLine(/listening on/);
  return { server, port, dataDir };
}

/** The exit, or a failure naming the wait if it takes longer than `ms` (the SIGKILL in afterEach ends it). */
function exitWithin(server: NodeProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`the server did not exit within ${ms} ms of SIGTERM`)), ms);
  });
  return Promise.race([server.exited, late]).finally(() => clearTimeout(timer));
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A raw connection that sends `bytes` (maybe nothing) and never reads what comes back. */
function neglectedConnection(port: number, bytes: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.pause();
      if (bytes) socket.write(bytes);
      resolve(socket);
    });
    socket.on('error', () => undefined); // the server is expected to cut it
    socket.once('error', reject);
  });
}

describe('Neglected connections (e2e, built server)', () => {
  const started: Started[] = [];
  const sockets: Socket[] = [];

  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (npm test does it first)`);
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const s of started.splice(0)) {
      await s.server.stop();
      removeDataDir(s.dataDir);
    }
  });

  it('releases sockets that never finish their headers, and idle keep-alive ones, within the documented timeouts', async () => {
    const s = await start();
    started.push(s);
    const pid = s.server.pid as number;
    const client = new JsonClient(s.port);
    expect((await client.request('GET', '/models')).status).toBe(200);
    client.close();
    const baseline = await waitFor('a steady fd count', async () => {
      const before = openFds(pid);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return openFds(pid) === before ? before : undefined;
    });

    const PARTIAL = 200;
    for (let i = 0; i < PARTIAL; i++) sockets.push(await neglectedConnection(s.port, 'GET /models HTTP/1.1\r\nHost: localhost\r\nX-Slow: '));
    await waitFor('the server to accept the partial-header sockets', () => Promise.resolve(openFds(pid) >= baseline + PARTIAL * 0.9));
    const held = openFds(pid);
    const opened = Date.now();
    await waitFor(`server fds back to the baseline (${baseline})`, () => Promise.resolve(openFds(pid) <= baseline + 1), RELEASE_WITHIN_MS);
    const releasedMs = Date.now() - opened;

    // The server still serves, and closes an idle keep-alive connection after KEEP_ALIVE_TIMEOUT_SECONDS
    // (a raw socket: Node's own client would close it first, a second before the server's Keep-Alive hint).
    const { answer, idleClosedMs } = await new Promise<{ answer: string; idleClosedMs: number }>((resolve, reject) => {
      let text = '';
      let answeredAt = 0;
      const socket = connect(s.port, '127.0.0.1', () => socket.write('GET /models HTTP/1.1\r\nHost: localhost\r\n\r\n'));
      sockets.push(socket);
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
        answeredAt ||= Date.now();
      });
      socket.on('error', reject);
      socket.on('end', () => resolve({ answer: text, idleClosedMs: Date.now() - answeredAt }));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(idleClosedMs).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT_SECONDS * 1000 - 100);
    // Node waits one second more than the Keep-Alive hint it sends, so that clients close first.
    expect(idleClosedMs).toBeLessThan(KEEP_ALIVE_TIMEOUT_SECONDS * 1000 + 1000 + 500);
    await waitFor(`server fds back to the baseline (${baseline})`, () => Promise.resolve(openFds(pid) <= baseline + 1), 2000);

    console.log(
      `Neglected connections: ${PARTIAL} partial-header sockets held ${held - baseline} server fds; back to the baseline (${baseline}) ${releasedMs} ms later ` +
        `(HEADERS_TIMEOUT_SECONDS=${HEADERS_TIMEOUT_SECONDS}); an idle keep-alive connection closed after ${idleClosedMs} ms (KEEP_ALIVE_TIMEOUT_SECONDS=${KEEP_ALIVE_TIMEOUT_SECONDS})`,
    );
  });

  it('answers a request whose headers never end with a 408 in the error body shape, then closes the connection', async () => {
    const s = await start();
    started.push(s);
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connect(s.port, '127.0.0.1', () => socket.write('GET /models HTTP/1.1\r\nHost: localhost\r\n'));
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(JSON.parse(answer.split('\r\n\r\n')[1])).toEqual({ statusCode: 408, error: 'Request Timeout', message: 'The request took too long to arrive' });
  });

  it('on SIGTERM closes idle connections at once, writes the snapshot and exits 0', async () => {
    const s = await start();
    started.push(s);
    const bridge = new JsonClient(s.port);
    expect((await bridge.request('POST', '/generate/pop', popBody('shutdown-bridge'))).status).toBe(200);
    // Five idle keep-alive connections that made a request, five that never sent a byte.
    const idle = Array.from({ length: 5 }, () => new JsonClient(s.port));
    for (const c of idle) expect((await c.request('GET', '/servers')).status).toBe(200);
    for (let i = 0; i < 5; i++) sockets.push(await neglectedConnection(s.port, ''));

    const sigtermAt = Date.now();
    s.server.kill('SIGTERM');
    const exit = await exitWithin(s.server, 10_000);
    const shutdownMs = Date.now() - sigtermAt;
    for (const c of [bridge, ...idle]) c.close();

    expect(exit).toEqual({ code: 0, signal: null });
    expect(shutdownMs).toBeLessThan(2000);
    const servers = JSON.parse(readFileSync(join(s.dataDir, 'servers.json'), 'utf8')) as unknown;
    expect(JSON.stringify(servers)).toContain('shutdown-bridge');
    console.log(`Shutdown with 10 idle connections: exit 0 after ${shutdownMs} ms, servers.json written`);
  });

  it('gives a request in progress SHUTDOWN_GRACE_SECONDS, then closes it and still exits 0 with the snapshot', async () => {
    const s = await start({ SHUTDOWN_GRACE_SECONDS: '1', REQUEST_TIMEOUT_SECONDS: '60' });
    started.push(s);
    const bridge = new JsonClient(s.port);
    expect((await bridge.request('POST', '/generate/pop', popBody('grace-bridge'))).status).toBe(200);
    bridge.close();
    // A request whose body is still on its way: in progress as far as the server knows. Its
    // `100 Continue` says that the server has read the headers and is waiting for the body.
    await new Promise<void>((resolve, reject) => {
      const socket = connect(s.port, '127.0.0.1', () =>
        socket.write('POST /generate/prompt HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n'),
      );
      sockets.push(socket);
      socket.setEncoding('utf8');
      socket.once('data', (chunk: string) => (chunk.startsWith('HTTP/1.1 100 Continue') ? resolve() : reject(new Error(`unexpected answer: ${chunk}`))));
      socket.on('error', () => undefined);
    });

    const sigtermAt = Date.now();
    s.server.kill('SIGTERM');
    const exit = await exitWithin(s.server, 10_000);
    const shutdownMs = Date.now() - sigtermAt;

    expect(exit).toEqual({ code: 0, signal: null });
    expect(shutdownMs).toBeGreaterThanOrEqual(900);
    expect(shutdownMs).toBeLessThan(3000);
    expect(s.server.output).toMatch(/Closing 1 connection\(s\) whose request was not answered within SHUTDOWN_GRACE_SECONDS \(1 s\)/);
    expect(readFileSync(join(s.dataDir, 'servers.json'), 'utf8')).toContain('grace-bridge');
  });
});
