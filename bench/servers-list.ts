/**
 * `npm run bench:servers`: `GET /servers` with many active servers, against the built server (dist/main.js).
 * Writes a servers.json of SERVERS_COUNT (default 100,000) servers that all popped just now, starts the
 * server on it twice (SERVERS_LIST_CACHE_MS=0: the list built per request; then the default), and measures
 * one read (time, bytes) and ten parallel reads while a probe asks `GET /usage` every 10 ms (the probe's
 * worst latency is how long other requests stall). Not part of `npm test` or CI.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PasswordHasher } from '../src/servers/domain/password-hasher';
import { freePort, NodeProcess } from '../test/support/processes';

const COUNT = Number(process.env.SERVERS_COUNT ?? 100_000);
const MAIN = join(__dirname, '..', 'dist', 'main.js');

function get(port: number, path: string): Promise<{ ms: number; bytes: number; status: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('end', () => resolve({ ms: performance.now() - started, bytes, status: response.statusCode ?? 0 }));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}

async function measure(dataDir: string, cacheMs: string): Promise<string> {
  const port = await freePort();
  const server = new NodeProcess('cluster', 'dist/main.js', [], {
    PORT: String(port),
    HOST: '127.0.0.1',
    RATE_LIMITS: 'off',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'log',
    SERVERS_LIST_CACHE_MS: cacheMs,
    SNAPSHOT_INTERVAL_SECONDS: '3600',
  });
  try {
    await server.waitForLine(/listening on/, 120_000);
    const single = await get(port, '/servers');
    if (single.status !== 200) throw new Error(`GET /servers answered ${single.status}`);
    let probing = true;
    let worstProbe = 0;
    const probe = (async () => {
      while (probing) {
        worstProbe = Math.max(worstProbe, (await get(port, '/usage')).ms);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const started = performance.now();
    const parallel = await Promise.all(Array.from({ length: 10 }, () => get(port, '/servers')));
    const parallelMs = performance.now() - started;
    probing = false;
    await probe;
    return (
      `SERVERS_LIST_CACHE_MS=${cacheMs}: one GET /servers ${single.ms.toFixed(0)} ms, ${(single.bytes / 1e6).toFixed(1)} MB; ` +
      `ten in parallel ${parallelMs.toFixed(0)} ms (slowest ${Math.max(...parallel.map((p) => p.ms)).toFixed(0)} ms); ` +
      `worst GET /usage meanwhile ${worstProbe.toFixed(0)} ms`
    );
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` first');
  const dataDir = mkdtempSync(join(tmpdir(), 'kc-servers-bench-'));
  try {
    const passwordHash = await new PasswordHasher().hash('bench');
    const now = Date.now();
    const servers = Array.from({ length: COUNT }, (_, i) => ({
      id: randomUUID(),
      name: `bench-server-${i}`,
      owner: `owner-${i % 100}`,
      passwordHash,
      model: `bench/model-${i % 10}`,
      maxLength: 80,
      maxContentLength: 1024,
      tokensGenerated: 0,
      requestsFulfilled: 0,
      recentJobs: [],
      createdAt: now,
      lastSeenAt: now,
    }));
    writeFileSync(join(dataDir, 'servers.json'), JSON.stringify({ version: 1, servers }));
    console.log(`${COUNT} active servers (node ${process.version})`);
    for (const cacheMs of ['0', '1000']) console.log(await measure(dataDir, cacheMs));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
