/**
 * What sending the prompt costs by itself: the plain-Express baseline (bench/express-baseline.ts) answering
 * the 40 Horde-shaped servers' pops with the empty-pop body, then with a fixed body the shape and size of a
 * pop that finds work (a uuid and a payload with a 1 KB prompt), in alternation, 3 rounds of 1 s warm-up +
 * 3 s. Prints req/s and server CPU per request of each, and their ratios. Run alone:
 * `flock /tmp/kc-bench.lock npx ts-node --transpile-only bench/payload-cost.ts`. Not part of `npm run bench`.
 */
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import ts from 'typescript';

const ROOT = resolve(__dirname, '..');
const HOST = '127.0.0.1';
const ROUNDS = 3;

function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 1e4;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kobold-payload-'));
  const output = ts.transpileModule(readFileSync(join(__dirname, 'express-baseline.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  writeFileSync(join(dir, 'express-baseline.js'), output.outputText);
  const port = 40_000 + Math.floor(Math.random() * 10_000);
  const child = fork(join(dir, 'express-baseline.js'), [], {
    env: { PORT: String(port), HOST, NODE_ENV: 'production', NODE_PATH: join(ROOT, 'node_modules'), PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    await new Promise((ready) => child.once('message', ready));
    const pid = child.pid as number;
    const requests = (path: string): autocannon.Request[] =>
      Array.from({ length: 40 }, (_, j) => ({
        method: 'POST' as const,
        path,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'bench-owner', password: 'bench-password-not-secret', name: `horde-server-${j}`, model: `horde/model-${j}`, max_length: 512, max_content_length: 2048 }),
      }));
    const run = (path: string, duration: number): Promise<autocannon.Result> =>
      new Promise((done, fail) =>
        autocannon({ url: `http://${HOST}:${port}`, connections: 10, duration, requests: requests(path) }, (error, result) =>
          error ? fail(error instanceof Error ? error : new Error(String(error))) : done(result),
        ),
      );
    const figures: Record<string, { rps: number; cpu: number }[]> = {};
    for (let r = 1; r <= ROUNDS; r++) {
      for (const path of ['/generate/pop', '/generate/pop-work']) {
        await run(path, 1);
        const cpu0 = cpuMicros(pid);
        const result = await run(path, 3);
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`${path}: ${result.non2xx} non-2xx, ${result.errors} errors`);
        const figure = { rps: result.requests.total / result.duration, cpu: (cpuMicros(pid) - cpu0) / result.requests.total };
        (figures[path] ??= []).push(figure);
        console.log(`round ${r} ${path}: ${Math.round(figure.rps)} req/s, ~${Math.round(figure.cpu)} µs server CPU per request`);
      }
    }
    const empty = figures['/generate/pop'];
    const work = figures['/generate/pop-work'];
    const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    console.log(`1 KB pop answer / empty pop answer: ${median(work.map((w, i) => w.rps / empty[i].rps)).toFixed(2)} by req/s, ${median(work.map((w, i) => empty[i].cpu / w.cpu)).toFixed(2)} by server CPU per request`);
  } finally {
    child.kill('SIGTERM');
    await sleep(100);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : String(error));
  process.exitCode = 1;
});
