import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { freePort } from './support/processes';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, chromium, Locator, Page } from 'playwright-core';

/**
 * The Swagger UI at /api, driven in a real browser the way a person uses it: the built server
 * (`node dist/main.js`, built by `pretest`) and Debian's Chromium, driven by playwright-core.
 * No browser is ever downloaded: `.ci/run` installs the `chromium` package when it is missing.
 */

const CHROMIUM = '/usr/bin/chromium';
const ROOT = join(__dirname, '..');
const MAIN = join(ROOT, 'dist', 'main.js');
const SCREENSHOT = join(ROOT, 'test-artifacts', 'swagger-ui.png');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const CLOWN_REQUEST = {
  prompt: 'I entered into an argument with a clown',
  params: { max_length: 16, frmttriminc: true, n: 2 },
  username: 'db0',
  models: ['KoboldAI/fairseq-dense-13B-Nerys-v2'],
};


/** Starts the built server and resolves once it logs that it listens; rejects if it exits first. */
function startServer(port: number, dataDir: string): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', RATE_LIMITS: 'off', DATA_DIR: dataDir, LOG_LEVEL: 'log' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('KoboldAI Cluster listening on')) resolve({ child, output: () => output });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`The server exited (${code ?? signal}) before listening:\n${output}`)));
  });
}

function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const forceKill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(forceKill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The operation block of one route, found by its raw path (Swagger UI breaks the visible path with <wbr>). */
function operation(page: Page, method: 'get' | 'post', path: string): Locator {
  return page.locator(`.opblock.opblock-${method}`, { has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
}

/** Clicks Execute, waits for the call and for Swagger UI to show it, and returns the status and body shown. */
async function execute(page: Page, op: Locator, method: string, urlPath: string, base: string): Promise<{ status: string; body: unknown }> {
  const response = page.waitForResponse((r) => r.request().method() === method && r.url() === `${base}${urlPath}`);
  await op.locator('button.execute').click();
  await response;
  const row = op.locator('.live-responses-table tr.response');
  const status = (await row.locator('.response-col_status').textContent())?.trim() ?? '';
  const body = await row.locator('.response-col_description .highlight-code code').first().textContent();
  return { status, body: JSON.parse(body ?? 'null') };
}

describe('Swagger UI at /api, in Chromium', () => {
  let server: { child: ChildProcess; output: () => string } | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let base: string;
  /** Content-Security-Policy violations and console errors the page reported. */
  const problems: string[] = [];
  let dataDir: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: the browser test drives Debian's Chromium and never downloads one. ` +
          'Install it with `sudo apt-get update && sudo apt-get install -y chromium` (.ci/run does this in CI).',
      );
    }
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` first (\`npm test\` builds it in pretest).`);
    dataDir = mkdtempSync(join(tmpdir(), 'kc-swagger-ui-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = await startServer(port, dataDir);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1280, height: 1024 } });
    // The page must work offline: anything not served by the cluster itself is refused.
    await context.route((url) => url.origin !== base, (route) => route.abort());
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await page.exposeFunction('reportViolation', (text: string) => void problems.push(`CSP violation: ${text}`));
    await page.addInitScript(() =>
      document.addEventListener('securitypolicyviolation', (e) => void (window as unknown as { reportViolation(t: string): void }).reportViolation(`${e.violatedDirective} ${e.blockedURI}`)),
    );
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    if (server) await stopServer(server.child);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 15_000);

  it('runs POST /generate/prompt with its example body, then GET /generate/prompt/{id} with the id it answered', async () => {
    const loaded = await page.goto(`${base}/api`);
    // The page runs under the cluster's Content-Security-Policy (scripts from its own origin only)...
    expect(loaded?.headers()['content-security-policy']).toContain("script-src 'self';");
    expect(loaded?.headers()['x-content-type-options']).toBe('nosniff');
    await page.locator('.info .title', { hasText: 'KoboldAI Cluster' }).waitFor();

    const create = operation(page, 'post', '/generate/prompt');
    await create.locator('.opblock-summary').click();
    await create.locator('button.try-out__btn').click();
    // The example body is exactly the seed README's request, so Execute works as-is.
    expect(JSON.parse(await create.locator('textarea.body-param__text').inputValue())).toEqual(CLOWN_REQUEST);
    const created = await execute(page, create, 'POST', '/generate/prompt', base);
    expect(created).toEqual({ status: '200', body: { id: expect.stringMatching(/^[0-9a-f-]{36}$/) } });
    const { id } = created.body as { id: string };

    const status = operation(page, 'get', '/generate/prompt/{id}');
    await status.locator('.opblock-summary').click();
    await status.locator('button.try-out__btn').click();
    await status.locator('tr[data-param-name="id"] input').fill(id);
    const polled = await execute(page, status, 'GET', `/generate/prompt/${id}`, base);
    expect(polled.status).toBe('200');
    expect(polled.body).toMatchObject({ finished: 0, processing: 0, waiting: 2, done: false, generations: [] });

    // ...and nothing it needs was refused.
    expect(problems).toEqual([]);

    await status.scrollIntoViewIfNeeded();
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  }, 30_000);
});
