/**
 * Security headers on every answer (issue 11 #12), and a page shaped like the status page (same-origin
 * HTML, a .js and a .css file, a fetch of same-origin JSON) working under the Content-Security-Policy
 * in Chromium, while an inline script is refused. The Swagger UI under the same policy is checked by
 * test/swagger-ui.e2e-spec.ts.
 */
import { existsSync } from 'node:fs';
import type { Request, Response } from 'express';
import { Browser, chromium } from 'playwright-core';
import { popBody, removeDataDir, startTestApp, TestApp } from './support/test-app';

const CHROMIUM = '/usr/bin/chromium';

const PROBE_HTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>probe</title>
<link rel="stylesheet" href="/probe/page.css">
<script src="/probe/page.js"></script>
<script>window.inlineScriptRan = true;</script>
</head><body><div id="out">loading</div></body></html>`;
const PROBE_JS = `document.addEventListener('DOMContentLoaded', () => {
  fetch('/models').then((r) => r.json()).then((models) => { document.getElementById('out').textContent = 'models: ' + JSON.stringify(models); });
});`;
const PROBE_CSS = '#out { color: rgb(1, 2, 3); }';

function expectApiHeaders(headers: Record<string, string>): void {
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['x-frame-options']).toBe('DENY');
  expect(headers['referrer-policy']).toBe('no-referrer');
  expect(headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  expect(headers['x-powered-by']).toBeUndefined();
}

function expectPageHeaders(headers: Record<string, string>): void {
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['x-frame-options']).toBe('SAMEORIGIN');
  expect(headers['referrer-policy']).toBe('no-referrer');
  const csp = headers['content-security-policy'];
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("script-src 'self';");
  expect(csp).toContain("script-src-attr 'none'");
  expect(csp).toContain("object-src 'none'");
  expect(csp).toContain("frame-ancestors 'self'");
  expect(csp).not.toContain('upgrade-insecure-requests');
  expect(headers['strict-transport-security']).toBeUndefined();
  expect(headers['x-powered-by']).toBeUndefined();
}

describe('Security headers (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ BODY_LIMIT_BYTES: 2048 }, undefined, (app) => {
      const serve = (type: string, body: string) => (_req: Request, res: Response) => void res.type(type).send(body);
      app.use('/probe/page.js', serve('application/javascript', PROBE_JS));
      app.use('/probe/page.css', serve('text/css', PROBE_CSS));
      app.use('/probe/index.html', serve('text/html', PROBE_HTML));
    });
  });

  afterAll(async () => {
    await t.close();
    removeDataDir(t.dataDir);
  });

  it.each([
    ['GET /models', () => t.http.get('/models'), 200],
    ['POST /generate/pop', () => t.http.post('/generate/pop').send(popBody('headers')), 200],
    ['GET /servers', () => t.http.get('/servers'), 200],
    ['a 400', () => t.http.post('/generate/prompt').send({}), 400],
    ['a 404 of the API', () => t.http.get('/generate/prompt/34a9f91a-6db5-4d4c-962f-c4d795739610'), 404],
    ['a 413 from the body parser', () => t.http.post('/generate/prompt').send({ prompt: 'x'.repeat(4096) }), 413],
  ])("are the JSON API's on %s", async (_label, send, status) => {
    const res = await send();
    expect(res.status).toBe(status);
    expectApiHeaders(res.headers);
  });

  it.each([
    ['the Swagger UI page', () => t.http.get('/api'), 200],
    ['the Swagger UI script', () => t.http.get('/api/swagger-ui-init.js'), 200],
    ['the OpenAPI document', () => t.http.get('/api-json'), 200],
    ['a page', () => t.http.get('/probe/index.html'), 200],
    ['an unknown path', () => t.http.get('/no-such-route'), 404],
  ])("are helmet's on %s", async (_label, send, status) => {
    const res = await send();
    expect(res.status).toBe(status);
    expectPageHeaders(res.headers);
  });

  it('let a same-origin page with its own script, stylesheet and JSON fetch work in Chromium, and refuse its inline script', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: see README, "Swagger UI and the browser test"`);
    const base = `http://127.0.0.1:${(t.app.getHttpServer().address() as { port: number }).port}`;
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
      const page = await browser.newPage();
      const violations: string[] = [];
      await page.exposeFunction('reportViolation', (text: string) => void violations.push(text));
      await page.addInitScript(() =>
        document.addEventListener('securitypolicyviolation', (e) => void (window as unknown as { reportViolation(t: string): void }).reportViolation(`${e.violatedDirective} ${e.blockedURI}`)),
      );
      await page.goto(`${base}/probe/index.html`);
      await page.locator('#out', { hasText: /^models: {/ }).waitFor({ timeout: 10_000 });
      expect(await page.locator('#out').evaluate((el) => getComputedStyle(el).color)).toBe('rgb(1, 2, 3)');
      expect(await page.evaluate(() => (window as unknown as { inlineScriptRan?: boolean }).inlineScriptRan)).toBeUndefined();
      expect(violations).toEqual(['script-src-elem inline']);
    } finally {
      await browser?.close();
    }
  }, 30_000);
});
