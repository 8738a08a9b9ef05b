import { ClusterSweeper } from '../src/generation/cluster-sweeper';
import { countTokens } from '../src/generation/domain/token-counter';
import { NERYS_13B, NERYS_27B, popBody, useTestApp } from './support/test-app';

describe('Generation endpoints (e2e)', () => {
  const t = useTestApp();

  const readmeBody = {
    prompt: 'I entered into an argument with a clown',
    params: { max_length: 16, frmttriminc: true, n: 2 },
    username: 'db0',
    models: [NERYS_13B],
  };

  it("accepts the README's curl body verbatim and answers its id with 200", async () => {
    const created = await t.http
      .post('/generate/prompt')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify(readmeBody))
      .expect(200);
    expect(created.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/) });

    const status = await t.http.get(`/generate/prompt/${created.body.id}`).expect(200);
    expect(status.body).toEqual({
      finished: 0,
      processing: 0,
      waiting: 2,
      restarted: 0,
      done: false,
      cancelled: false,
      generations: [],
      queue_position: 0,
      wait_time: null,
      is_possible: false,
      impossible_reason: 'no server is active',
    });
  });

  it('serves POST /generate/async as the same endpoint', async () => {
    const created = await t.http.post('/generate/async').send(readmeBody).expect(200);
    await t.http.get(`/generate/prompt/${created.body.id}`).expect(200);
  });

  it('answers 404 with a clear message for an unknown request id', async () => {
    const res = await t.http.get('/generate/prompt/00000000-0000-4000-8000-000000000000').expect(404);
    expect(res.body).toEqual({ statusCode: 404, error: 'Not Found', message: expect.stringContaining('No request with id') });
  });

  it('fills one n:2 request with two bridge.py-shaped servers in parallel', async () => {
    const { body: created } = await t.http.post('/generate/prompt').send(readmeBody).expect(200);

    const first = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    const second = await t.http.post('/generate/pop').send(popBody('beta')).expect(200);
    expect(first.body.payload).toEqual({ prompt: readmeBody.prompt, max_length: 16, frmttriminc: true, n: 1 });
    expect(second.body.payload).toEqual(first.body.payload);
    expect(first.body.id).not.toEqual(second.body.id);

    const during = await t.http.get(`/generate/prompt/${created.id}`).expect(200);
    expect(during.body).toMatchObject({ finished: 0, processing: 2, waiting: 0, done: false });

    const third = await t.http.post('/generate/pop').send(popBody('gamma')).expect(200);
    expect(third.body).toEqual({ id: null, skipped: { model: 0, max_length: 0, max_content_length: 0 } });

    const a = await t.http
      .post('/generate/submit')
      .send({ id: first.body.id, password: 'alpha-password', generation: ' as he stood before me.' })
      .expect(200);
    expect(a.body).toEqual({ reward: countTokens(' as he stood before me.') });
    await t.http.post('/generate/submit').send({ id: second.body.id, password: 'beta-password', generation: ' and lost.' }).expect(200);

    const done = await t.http.get(`/generate/prompt/${created.id}`).expect(200);
    expect(done.body).toMatchObject({ finished: 2, processing: 0, waiting: 0, done: true });
    expect(done.body.generations.sort()).toEqual([' and lost.', ' as he stood before me.']);

    const usage = await t.http.get('/usage').expect(200);
    expect(usage.body).toEqual({ db0: countTokens(' as he stood before me.') + countTokens(' and lost.') });
    const contributions = await t.http.get('/contributions').expect(200);
    expect(contributions.body).toEqual({
      'alpha-owner': countTokens(' as he stood before me.'),
      'beta-owner': countTokens(' and lost.'),
    });

    const servers = await t.http.get('/servers').expect(200);
    expect(servers.body).toHaveLength(3);
    const alpha = servers.body.find((s: { name: string }) => s.name === 'alpha');
    expect(alpha).toMatchObject({
      model: NERYS_13B,
      max_length: 80,
      max_content_length: 1024,
      tokens_generated: countTokens(' as he stood before me.'),
      requests_fulfilled: 1,
      latest_performance: expect.stringMatching(/^\d+(\.\d)? tokens per second$/),
    });
    const one = await t.http.get(`/servers/${alpha.id}`).expect(200);
    expect(one.body).toMatchObject({ name: 'alpha', online: true });
    expect(JSON.stringify(servers.body)).not.toContain('password');

    const models = await t.http.get('/models').expect(200);
    expect(models.body).toEqual({ [NERYS_13B]: 3 });
  });

  it('serves waiting requests oldest first and skips what a server cannot serve, by reason', async () => {
    const old = await t.http.post('/generate/prompt').send({ prompt: 'old', params: { max_length: 40 } }).expect(200);
    await t.http.post('/generate/prompt').send({ prompt: 'new', params: { max_length: 40 } }).expect(200);
    await t.http.post('/generate/prompt').send({ prompt: 'other model', models: [NERYS_27B] }).expect(200);
    await t.http.post('/generate/prompt').send({ prompt: 'long', params: { max_length: 200 } }).expect(200);
    await t.http.post('/generate/prompt').send({ prompt: 'wide', params: { max_context_length: 4096 } }).expect(200);

    const first = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    expect(first.body.payload.prompt).toBe('old');
    const second = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    expect(second.body.payload.prompt).toBe('new');
    const empty = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    expect(empty.body).toEqual({ id: null, skipped: { model: 1, max_length: 1, max_content_length: 1 } });
    expect((await t.http.get(`/generate/prompt/${old.body.id}`)).body.processing).toBe(1);
  });

  it('compares the server context limit with the request context wish, like with like', async () => {
    // The seed compared the server's max_content_length with the prompt's max_length.
    await t.http.post('/generate/prompt').send({ prompt: 'p', params: { max_length: 100, max_content_length: 500 } }).expect(200);
    const pop = await t.http.post('/generate/pop').send(popBody('alpha', { max_length: 100, max_content_length: 500 })).expect(200);
    expect(pop.body.id).toEqual(expect.any(String));
  });

  it('refuses a pop for a name held with another password (401), and keeps the server', async () => {
    await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    const res = await t.http.post('/generate/pop').send(popBody('alpha', { password: 'guess' })).expect(401);
    expect(res.body.message).toContain('alpha');
    await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
  });

  it('answers submit errors: 404 unknown id, 401 wrong password, 400 already submitted', async () => {
    await t.http.post('/generate/prompt').send({ prompt: 'p', params: { n: 1 } }).expect(200);
    const pop = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    await t.http
      .post('/generate/submit')
      .send({ id: '00000000-0000-4000-8000-000000000000', password: 'alpha-password', generation: 'x' })
      .expect(404);
    await t.http.post('/generate/submit').send({ id: pop.body.id, password: 'wrong', generation: 'x' }).expect(401);
    await t.http.post('/generate/submit').send({ id: pop.body.id, password: 'alpha-password', generation: 'x' }).expect(200);
    const again = await t.http.post('/generate/submit').send({ id: pop.body.id, password: 'alpha-password', generation: 'x' }).expect(400);
    expect(again.body.message).toContain('already submitted');
    expect((await t.http.get('/usage')).body).toEqual({ Anonymous: countTokens('x') });
  });

  it('deletes a request with no activity for PROMPT_EXPIRY_SECONDS; its submit then gets 404', async () => {
    const created = await t.http.post('/generate/prompt').send({ prompt: 'p', params: { n: 2 } }).expect(200);
    const pop = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    const sweeper = t.app.get(ClusterSweeper);
    await sweeper.sweep(Date.now() + 599_000);
    await t.http.get(`/generate/prompt/${created.body.id}`).expect(200);
    await sweeper.sweep(Date.now() + 601_000);
    await t.http.get(`/generate/prompt/${created.body.id}`).expect(404);
    await t.http.post('/generate/submit').send({ id: pop.body.id, password: 'alpha-password', generation: 'late' }).expect(404);
  });

  it('drops stale servers from /servers and /models but keeps them by id', async () => {
    const pop = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    expect(pop.body.id).toBeNull();
    const [server] = (await t.http.get('/servers').expect(200)).body;
    const realNow = Date.now;
    const later = realNow() + 301_000;
    jest.spyOn(Date, 'now').mockImplementation(() => later);
    try {
      expect((await t.http.get('/servers').expect(200)).body).toEqual([]);
      expect((await t.http.get('/models').expect(200)).body).toEqual({});
      expect((await t.http.get(`/servers/${server.id}`).expect(200)).body).toMatchObject({ name: 'alpha', online: false });
      await t.http.post('/generate/sync').send({ prompt: 'p' }).expect(503);
      // Back from another machine: same name and password, same id and stats.
      await t.http.post('/generate/pop').send(popBody('alpha', { model: NERYS_27B })).expect(200);
      expect((await t.http.get('/servers').expect(200)).body).toEqual([expect.objectContaining({ id: server.id, model: NERYS_27B })]);
    } finally {
      jest.restoreAllMocks();
    }
  });

  it('answers 404 for an unknown server id', async () => {
    const res = await t.http.get('/servers/nope').expect(404);
    expect(res.body.message).toContain('nope');
  });

  it('answers JSON maps for /usage, /contributions and /models when empty', async () => {
    expect((await t.http.get('/usage').expect(200)).body).toEqual({});
    expect((await t.http.get('/contributions').expect(200)).body).toEqual({});
    expect((await t.http.get('/models').expect(200)).body).toEqual({});
  });

  it('lets browser front ends call it (CORS open to every origin)', async () => {
    const res = await t.http.get('/models').set('Origin', 'https://example.org').expect(200);
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });

  it('serves the Swagger UI at /api and the spec at /api-json', async () => {
    await t.http.get('/api').expect(200).expect('Content-Type', /html/);
    const spec = await t.http.get('/api-json').expect(200);
    expect(Object.keys(spec.body.paths)).toEqual(
      expect.arrayContaining(['/generate/prompt', '/generate/async', '/generate/prompt/{id}', '/generate/sync', '/generate/pop', '/generate/submit', '/servers', '/servers/{id}', '/usage', '/contributions', '/models']),
    );
  });
});
