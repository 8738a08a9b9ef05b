import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { countTokens } from '../src/generation/domain/token-counter';
import { NERYS_13B, popBody, useTestApp } from './support/test-app';

const ROOT = join(__dirname, '..');

describe('An empty username is Anonymous (e2e)', () => {
  const t = useTestApp();

  /** Pops until it gets a job, and hands `text` in for it. */
  async function serveOne(text: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const pop = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
      if (pop.body.id === null) continue;
      await t.http.post('/generate/submit').send({ id: pop.body.id, password: 'alpha-password', generation: text }).expect(200);
      return;
    }
    throw new Error('no job came');
  }

  it.each(['/generate/prompt', '/generate/async'])('serves %s with username "" and counts it for Anonymous', async (path) => {
    const created = await t.http.post(path).send({ prompt: 'p', username: '' }).expect(200);
    await serveOne(' counted for Anonymous');
    expect((await t.http.get(`/generate/prompt/${created.body.id}`)).body).toMatchObject({ done: true, finished: 1 });
    expect((await t.http.get('/usage')).body).toEqual({ Anonymous: countTokens(' counted for Anonymous') });
    expect((await t.http.get('/users/Anonymous')).body).toMatchObject({ usage: countTokens(' counted for Anonymous') });
  });

  it('serves /generate/sync with username "" (KoboldAI United without --apikey) and counts it for Anonymous', async () => {
    await t.http.post('/generate/pop').send(popBody('alpha')).expect(200); // the server is active
    const port = (t.app.getHttpServer().address() as AddressInfo).port;
    const body = JSON.stringify({ prompt: 'You are standing in an open field.', params: { n: 1, max_length: 40, max_context_length: 1024 }, username: '', models: [NERYS_13B] });
    const answer = new Promise<{ status: number; json: unknown }>((resolve, reject) => {
      const request = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/generate/sync', headers: { 'content-type': 'application/json' } }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, json: JSON.parse(text) }));
      });
      request.on('error', reject);
      request.end(body);
    });
    await serveOne(' west of a white house');
    expect(await answer).toEqual({ status: 200, json: [' west of a white house'] });
    expect((await t.http.get('/usage')).body).toEqual({ Anonymous: countTokens(' west of a white house') });
  });

  it('still refuses a username of the wrong type or too long, with the same messages', async () => {
    expect((await t.http.post('/generate/prompt').send({ prompt: 'p', username: 7 }).expect(400)).body.message).toContain('username must be a string');
    expect((await t.http.post('/generate/prompt').send({ prompt: 'p', username: 'u'.repeat(101) }).expect(400)).body.message).toMatch(/username/);
  });
});

describe('What a new user reads (e2e)', () => {
  const t = useTestApp({}, 'all');

  it("the Swagger document takes package.json's version and the project's own words", async () => {
    const document = (await t.http.get('/api-json').expect(200)).body;
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string };
    expect(document.info.version).toBe(pkg.version);
    const text = JSON.stringify(document);
    // No word of the seed README; the v2 API's `"seed"` field is the AI Horde's name for it.
    expect(text.replaceAll('"seed"', '"<v2 field>"')).not.toMatch(/seed/i);
    expect(text).not.toContain('python bridge.py');
    expect(text).toContain('npm run bridge -- -u USER -p PASS');
    expect(text).toContain('the original KoboldAI-cluster');
    for (const path of ['/health', '/health/ready', '/metrics', '/status', '/status/throughput']) expect(document.paths[path]?.get).toBeDefined();
  });

  it('the repository carries the AGPL-3.0 text that package.json declares', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { license: string };
    expect(pkg.license).toBe('AGPL-3.0-only');
    const license = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    expect(license).toContain('GNU AFFERO GENERAL PUBLIC LICENSE');
    expect(license).toContain('Version 3, 19 November 2007');
    expect(license).toContain('13. Remote Network Interaction; Use with the GNU General Public License.');
    expect(license).toContain('END OF TERMS AND CONDITIONS');
  });
});
