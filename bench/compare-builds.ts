/**
 * `npm run bench:compare -- <other build's dist/main.js>`: the empty-pop throughput of this build
 * (dist/main.js) against another build of the server (say main's, built in another folder), measured
 * in alternation in one run, so that a change costing a few percent shows through the drift of a shared
 * machine. Both servers run with their default settings (except RATE_LIMITS=off and LOG_LEVEL=warn, as
 * in `npm run bench`), no waiting request, and get the same pops from autocannon. Not part of `npm test`.
 *
 * Prints, per round, each server's pops per second and server CPU per pop, then the median of the
 * paired ratios (this build ÷ the other). BENCH_COMPARE_ROUNDS (10) and BENCH_SECONDS (5) change the length;
 * BENCH_COMPARE_ENV="ACCESS_LOG=off ..." sets variables for this build only (to price a setting).
 */
import autocannon from 'autocannon';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/support/processes';

const HOST = '127.0.0.1';
const ROUNDS = Number(process.env.BENCH_COMPARE_ROUNDS ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const POP = { username: 'bench-owner', password: 'bench-password-not-secret', name: 'bench-poller', model: 'bench/poller-model', max_length: 512, max_content_length: 2048 };

/** Server CPU time (user + system) in µs, from /proc. */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 1e4;
}

async function start(main: string, dataDir: string, extraEnv: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST, DATA_DIR: dataDir, RATE_LIMITS: 'off', LOG_LEVEL: 'warn', NODE_ENV: 'production', ...extraEnv },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://${HOST}:${port}/generate/pop`;
  for (let i = 0; i < 300; i++) {
    try {
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(POP) });
      if (response.ok) return { child, url };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${main} did not answer`);
}

function cannon(url: string, duration: number): Promise<autocannon.Result> {
  return new Promise((done, fail) => {
    autocannon(
      { url, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(POP), connections: 10, duration },
      (error, result) => (error ? fail(error instanceof Error ? error : new Error(String(error))) : done(result)),
    );
  });
}

async function measure(target: { child: ChildProcess; url: string }): Promise<{ rps: number; cpu: number }> {
  await cannon(target.url, 1);
  const cpu0 = cpuMicros(target.child.pid ?? 0);
  const result = await cannon(target.url, SECONDS);
  if (result.errors > 0 || result.non2xx > 0) throw new Error(`${target.url}: ${result.errors} errors, ${result.non2xx} non-2xx`);
  return { rps: result.requests.total / result.duration, cpu: (cpuMicros(target.child.pid ?? 0) - cpu0) / result.requests.total };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

async function main(): Promise<void> {
  const other = process.argv[2];
  if (!other) throw new Error('usage: npm run bench:compare -- <path to the other build\'s dist/main.js>');
  const temp = mkdtempSync(join(tmpdir(), 'kobold-compare-'));
  const extraEnv = Object.fromEntries((process.env.BENCH_COMPARE_ENV ?? '').split(/\s+/).filter(Boolean).map((pair) => pair.split('=', 2) as [string, string]));
  const ours = await start(resolve(__dirname, '..', 'dist', 'main.js'), join(temp, 'ours'), extraEnv);
  const theirs = await start(resolve(other), join(temp, 'theirs'));
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate which goes first, so neither always follows the other.
      const order = round % 2 === 0 ? [ours, theirs] : [theirs, ours];
      const results = new Map<typeof ours, { rps: number; cpu: number }>();
      for (const target of order) results.set(target, await measure(target));
      const a = results.get(ours)!;
      const b = results.get(theirs)!;
      ratios.push(a.rps / b.rps);
      cpuRatios.push(b.cpu / a.cpu);
      console.log(
        `round ${round}/${ROUNDS}: this build ${Math.round(a.rps)} pops/s (${Math.round(a.cpu)} µs CPU/pop), other ${Math.round(b.rps)} pops/s (${Math.round(b.cpu)} µs CPU/pop): ratio ${(a.rps / b.rps).toFixed(3)}`,
      );
    }
    console.log(
      `\nempty pop, this build ÷ ${other}: throughput ${median(ratios).toFixed(3)} (median of ${ROUNDS} paired rounds, ` +
        `range ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}); by server CPU per pop ${median(cpuRatios).toFixed(3)}`,
    );
  } finally {
    for (const target of [ours, theirs]) target.child.kill('SIGTERM');
    await sleep(500);
    rmSync(temp, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : String(error));
  process.exitCode = 1;
});
