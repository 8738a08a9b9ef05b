import { existsSync } from 'node:fs';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Browser, chromium } from 'playwright-core';
import { registerUser, scribePopBody } from './support/horde';
import { waitFor } from './support/processes';
import { NERYS_13B, startTestApp, TestApp, removeDataDir } from './support/test-app';

/**
 * The v2 API from a browser, as KoboldAI Lite calls it (LostRuins/lite.koboldai.net index.html: fetch
 * with `apikey` and `Client-Agent` headers from the page's own origin, find_user, generate/text/async,
 * then the status polled until `done` and read once more for generations[0].text and worker_name). The
 * page comes from another origin than the cluster (a server of this test), so Chromium sends the CORS
 * preflight and enforces the answer. Debian's Chromium via playwright-core, no downloaded browser.
 */

jest.setTimeout(60_000);

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A Lite-shaped client: no framework, the same calls and headers. `cluster` and `key` come from the query string. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>v2 client</title></head>
<body>
<p id="user">…</p>
<p id="state">starting</p>
<p id="output"></p>
<script>
(async () => {
  const query = new URLSearchParams(location.search);
  const cluster = query.get('cluster');
  const apikey = query.get('key');
  const state = document.getElementById('state');
  try {
    const user = await (await fetch(cluster + '/api/v2/find_user', { headers: { apikey } })).json();
    document.getElementById('user').textContent = user.username + ' (' + user.kudos + ' kudos)';
    const submitted = await fetch(cluster + '/api/v2/generate/text/async', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', apikey, 'Client-Agent': 'KoboldAiLite:17' },
      body: JSON.stringify({ prompt: 'The browser asked', params: { n: 1, max_length: 16, max_context_length: 1024 }, models: [], workers: [] }),
    });
    const { id } = await submitted.json();
    state.textContent = 'waiting ' + id;
    for (;;) {
      const status = await (await fetch(cluster + '/api/v2/generate/text/status/' + id)).json();
      if (status.message != null || status.faulted || status.is_possible === false) throw new Error('gave up: ' + JSON.stringify(status));
      if (status.done) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const final = await (await fetch(cluster + '/api/v2/generate/text/status/' + id)).json();
    document.getElementById('output').textContent = final.generations[0].text + ' — ' + final.generations[0].worker_name;
    state.textContent = 'done';
  } catch (error) {
    state.textContent = 'error: ' + error.message;
  }
})();
</script>
</body></html>`;

describe('A browser page on another origin calls the v2 API (CORS preflight included)', () => {
  let cluster: TestApp;
  let pageServer: Server;
  let browser: Browser | undefined;
  const preflights: { path: string; headers: string }[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (npm test's pretest does it).`);
    cluster = await startTestApp();
    cluster.app.getHttpServer().on('request', (request: IncomingMessage) => {
      if (request.method === 'OPTIONS') preflights.push({ path: request.url ?? '', headers: String(request.headers['access-control-request-headers']) });
    });
    pageServer = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE));
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => pageServer?.close(resolve));
    if (cluster) {
      await cluster.close();
      removeDataDir(cluster.dataDir);
    }
  });

  it('shows the text a v2 worker generated for it', async () => {
    const key = await registerUser(cluster.http, 'browser-user');
    // The worker checks in first: Lite gives up on a request no active worker can serve (is_possible false).
    await cluster.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody('Browser-side worker', NERYS_13B)).expect(200);
    const clusterPort = (cluster.app.getHttpServer().address() as AddressInfo).port;
    // Another origin than the page's: the same host, another port.
    const clusterUrl = `http://localhost:${clusterPort}`;
    const pageUrl = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/?cluster=${encodeURIComponent(clusterUrl)}&key=${encodeURIComponent(key)}`;
    const page = await browser!.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    await page.goto(pageUrl);

    const job = await waitFor('the page\'s request to reach the queue', async () => {
      const pop = await cluster.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody('Browser-side worker', NERYS_13B)).expect(200);
      return pop.body.id ? pop.body : undefined;
    });
    expect(job.payload).toMatchObject({ prompt: 'The browser asked', max_length: 16 });
    await cluster.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: job.id, generation: ' and the cluster answered.', seed: 0 }).expect(200);

    await page.waitForFunction(() => /^(done|error)/.test(document.getElementById('state')?.textContent ?? ''), undefined, { timeout: 10_000 });
    expect(await page.textContent('#state')).toBe('done');
    expect(await page.textContent('#output')).toBe(' and the cluster answered. — Browser-side worker');
    expect(await page.textContent('#user')).toBe('browser-user (0 kudos)');
    expect(problems).toEqual([]);

    // Chromium asked before sending the custom headers, and was allowed.
    const asyncPreflight = preflights.find((p) => p.path === '/api/v2/generate/text/async');
    expect(asyncPreflight?.headers.split(',').sort()).toEqual(['apikey', 'client-agent', 'content-type']);
    expect(preflights.some((p) => p.path === '/api/v2/find_user')).toBe(true);
    await page.close();
  });
});
