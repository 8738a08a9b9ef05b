import { countTokens } from '../src/generation/domain/token-counter';
import { StatusService } from '../src/status/status.service';
import { NERYS_13B, NERYS_27B, popBody, useTestApp } from './support/test-app';

describe('The status page and its data (e2e)', () => {
  const t = useTestApp();

  it('GET / serves the page, its script and style as separate same-origin files, with no inline script or style', async () => {
    const page = await t.http.get('/').expect(200).expect('Content-Type', /text\/html/);
    expect(page.text).toContain('<title>KoboldAI Cluster');
    expect(page.text).toContain('<script src="/assets/status-page.js" defer></script>');
    expect(page.text).toContain('<link rel="stylesheet" href="/assets/status-page.css">');
    expect(page.text).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(page.text).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect(page.text).not.toMatch(/(src|href)="(https?:)?\/\//);
    await t.http.get('/assets/status-page.js').expect(200).expect('Content-Type', /text\/javascript/);
    await t.http.get('/assets/status-page.css').expect(200).expect('Content-Type', /text\/css/);
    await t.http.get('/assets/favicon.svg').expect(200).expect('Content-Type', /image\/svg\+xml/);
    const missing = await t.http.get('/assets/..%2Fstatus.service.ts').expect(404);
    expect(missing.body).toEqual({ statusCode: 404, error: 'Not Found', message: expect.any(String) });
    await t.http.get('/assets/constructor').expect(404);
  });

  it('GET /status shows the queue, the servers with their owner, the models, tokens and top contributors', async () => {
    await t.http.post('/generate/prompt').send({ prompt: 'a', params: { n: 2 }, username: 'reader', models: [NERYS_13B] }).expect(200);
    await t.http.post('/generate/prompt').send({ prompt: 'b', username: 'reader', models: [NERYS_27B, 'nobody/runs-this'] }).expect(200);
    await t.http.post('/generate/prompt').send({ prompt: 'c', username: 'reader' }).expect(200);
    await t.http.post('/generate/prompt').send({ prompt: 'd', username: 'reader', models: ['nobody/runs-that'] }).expect(200);
    const pop = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    await t.http.post('/generate/submit').send({ id: pop.body.id, password: 'alpha-password', generation: ' four tokens right here' }).expect(200);
    await t.http.post('/generate/pop').send(popBody('beta', { model: NERYS_27B, username: 'bob' })).expect(200);
    const tokens = countTokens(' four tokens right here');

    const status = (await t.http.get('/status').expect(200)).body;
    expect(status).toEqual({
      generated_at: expect.any(String),
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      queue: { waiting_requests: 3, waiting_slots: 3, waiting_for_any_model: 1, processing_generations: 1, oldest_wait_seconds: expect.any(Number) },
      tokens: { last_minute: tokens, last_hour: tokens, since_start: tokens },
      servers: [
        expect.objectContaining({ name: 'alpha', owner: 'alpha-owner', model: NERYS_13B, max_length: 80, max_content_length: 1024, requests_fulfilled: 1, tokens_generated: tokens, tokens_per_second: expect.any(Number) }),
        expect.objectContaining({ name: 'beta', owner: 'bob', model: NERYS_27B, requests_fulfilled: 0, tokens_per_second: null }),
      ],
      models: [
        { name: NERYS_13B, servers: 1, waiting_requests: 1 },
        // Request b, which allows NERYS_27B or nobody/runs-this, is being generated: neither has a waiting request.
        { name: NERYS_27B, servers: 1, waiting_requests: 0 },
        // Asked for, run by nobody: unmet demand shows.
        { name: 'nobody/runs-that', servers: 0, waiting_requests: 1 },
      ],
      top_contributors: [{ username: 'alpha-owner', contributions: tokens }],
    });
    expect(status.servers[0]).not.toHaveProperty('passwordHash');
    expect(JSON.stringify(status)).not.toContain('alpha-password');

    const throughput = (await t.http.get('/status/throughput').expect(200)).body;
    expect(throughput.minutes).toHaveLength(60);
    expect(throughput.minutes[59]).toEqual({ start: expect.any(String), tokens });
    expect(throughput.minutes.slice(0, 59).every((m: { tokens: number }) => m.tokens === 0)).toBe(true);
  });

  it('reads the cluster at most once a second, however many clients ask', async () => {
    const service = t.app.get(StatusService);
    const now = Date.now();
    const first = await service.clusterStatus(now);
    await t.http.post('/generate/prompt').send({ prompt: 'a' }).expect(200);
    expect(await service.clusterStatus(now + 500)).toBe(first);
    const later = await service.clusterStatus(now + 1000);
    expect(later.queue.waiting_requests).toBe(1);
  });
});
