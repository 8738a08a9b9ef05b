import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import { freePort, NodeProcess, waitFor } from './support/processes';

/**
 * The status page at `/`, in Debian's Chromium (playwright-core, no downloaded browser), against real
 * processes: the built server, the KoboldAI simulator and a bridge. The page is opened first; a request
 * is made and served meanwhile; the page must show it without being reloaded. It runs under a strict
 * Content-Security-Policy (no inline script or style, nothing from another origin) and offline.
 */

jest.setTimeout(60_000);

const CHROMIUM = '/usr/bin/chromium';
const ROOT = join(__dirname, '..');
const SCREENSHOT = join(ROOT, 'test-artifacts', 'status-page.png');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const STRICT_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const SERVER_NAME = "Ada's Volunteer Instance";
const MODEL = 'KoboldAI/fairseq-dense-2.7B-Nerys';

describe('The status page at / (browser, real processes)', () => {
  const processes: NodeProcess[] = [];
  let dataDir: string;
  let base: string;
  let browser: Browser | undefined;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (npm test's pretest does it).`);
    for (const script of ['dist/main.js', 'dist/kai-sim/main.js', 'dist/bridge/main.js']) {
      if (!existsSync(join(ROOT, script))) throw new Error(`${script} is missing: run \`npm run build\` first.`);
    }
    dataDir = mkdtempSync(join(tmpdir(), 'kc-status-page-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const server = new NodeProcess('server', 'dist/main.js', [], { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, RATE_LIMITS: 'off', LOG_LEVEL: 'warn' });
    processes.push(server);
    await waitFor('the server', async () => {
      if (!server.running) throw new Error(`server exited:\n${server.output}`);
      return (await fetch(`${base}/health`)).ok;
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Offline: anything not served by the cluster itself is refused. And a strict CSP on every answer.
    await context.route('**/*', async (route) => {
      if (new URL(route.request().url()).origin !== base) return route.abort();
      const response = await route.fetch();
      return route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': STRICT_CSP } });
    });
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    for (const p of processes.reverse()) await p.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 15_000);

  it('shows a server, its model and the tokens it generated for a request made after the page was opened, without a reload', async () => {
    await page.goto(base);
    await page.locator('#live', { hasText: 'Live' }).waitFor();
    await page.locator('#servers-empty').waitFor();
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));

    const sim = new NodeProcess('sim', 'dist/kai-sim/main.js', ['--port', '0', '--model', MODEL, '--delay-ms', '300', '-q']);
    processes.push(sim);
    const simUrl = /(http:\/\/[\d.]+:\d+)/.exec(await sim.waitForLine(/listening on http:\/\/[\d.]+:\d+/))![1];
    processes.push(new NodeProcess('bridge', 'dist/bridge/main.js', ['-u', 'ada', '-p', 'bridge-password', '-n', SERVER_NAME, '-k', simUrl, '-c', base, '-i', '0.2', '-q']));

    const created = await fetch(`${base}/generate/prompt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Once upon a time, in a cluster far away,', params: { n: 3, max_length: 24 }, username: 'reader' }),
    });
    const { id } = (await created.json()) as { id: string };
    await waitFor('the request to be done', async () => ((await (await fetch(`${base}/generate/prompt/${id}`)).json()) as { done: boolean }).done, 30_000, 200);

    const row = page.locator('#servers tr', { hasText: SERVER_NAME });
    await row.waitFor({ timeout: 15_000 });
    await expect(row.locator('td').nth(1).textContent()).resolves.toBe('ada');
    await expect(row.locator('td').nth(2).textContent()).resolves.toBe(MODEL);
    await page.waitForFunction(() => Number(document.getElementById('tokens-minute')?.textContent?.replace(/,/g, '')) > 0, undefined, { timeout: 15_000 });
    await expect(page.locator('#models tr', { hasText: MODEL }).locator('td').nth(1).textContent()).resolves.toBe('1');
    await expect(page.locator('#contributors li', { hasText: 'ada' }).count()).resolves.toBe(1);
    expect(await page.locator('#chart rect.bar').count()).toBeGreaterThan(0);
    expect(Number((await page.locator('#servers-count').textContent()) ?? '0')).toBe(1);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    expect(problems).toEqual([]);

    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
});
