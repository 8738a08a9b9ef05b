import { popBody, removeDataDir, startTestApp, TestApp } from './support/test-app';

describe('Rate limits (e2e)', () => {
  let t: TestApp;

  beforeEach(async () => {
    t = await startTestApp({
      RATE_LIMITS: 'on',
      RATE_LIMIT_PER_MINUTE: 6,
      RATE_LIMIT_CREATE_PER_MINUTE: 2,
      RATE_LIMIT_STATUS_PER_MINUTE: 3,
      RATE_LIMIT_POP_PER_SECOND: 2,
    });
  });

  afterEach(async () => {
    await t.close();
    removeDataDir(t.dataDir);
  });

  it('limits request creation per client', async () => {
    await t.http.post('/generate/prompt').send({ prompt: 'a' }).expect(200);
    await t.http.post('/generate/async').send({ prompt: 'b' }).expect(200);
    const res = await t.http.post('/generate/prompt').send({ prompt: 'c' }).expect(429);
    expect(res.body).toEqual({ statusCode: 429, error: 'Too Many Requests', message: expect.stringContaining('Too many requests') });
  });

  it('limits status reads per client', async () => {
    const { body } = await t.http.post('/generate/prompt').send({ prompt: 'a' }).expect(200);
    for (let i = 0; i < 3; i++) await t.http.get(`/generate/prompt/${body.id}`).expect(200);
    await t.http.get(`/generate/prompt/${body.id}`).expect(429);
  });

  it('limits other routes with the overall per-client limit', async () => {
    for (let i = 0; i < 6; i++) await t.http.get('/usage').expect(200);
    await t.http.get('/models').expect(429);
  });

  it('limits pops per server name, not per address, and not by the overall limit', async () => {
    await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    await t.http.post('/generate/pop').send(popBody('alpha')).expect(429);
    // Other bridges behind the same address are not throttled with it.
    for (let i = 0; i < 8; i++) await t.http.post('/generate/pop').send(popBody(`bridge-${i}`)).expect(200);
  });
});

describe('Rate limits switched off (e2e)', () => {
  it('lets everything through with RATE_LIMITS=off', async () => {
    const t = await startTestApp({ RATE_LIMITS: 'off', RATE_LIMIT_CREATE_PER_MINUTE: 1, RATE_LIMIT_POP_PER_SECOND: 1 });
    try {
      for (let i = 0; i < 5; i++) await t.http.post('/generate/prompt').send({ prompt: `p${i}` }).expect(200);
      for (let i = 0; i < 5; i++) await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    } finally {
      await t.close();
      removeDataDir(t.dataDir);
    }
  });
});
