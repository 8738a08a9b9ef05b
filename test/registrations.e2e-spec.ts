import { popBody, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(30_000);

describe('Server registrations per client address (e2e)', () => {
  let t: TestApp;

  afterEach(() => t.close());

  it('answers 429 with a clear message once an address has registered REGISTRATIONS_PER_HOUR_PER_ADDRESS (20) new names, even with rate limits off', async () => {
    t = await startTestApp();
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await t.http.post('/generate/pop').send(popBody(`flood-${i}`))).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.slice(20)).toEqual([429, 429, 429, 429, 429]);
    const refused = await t.http.post('/generate/pop').send(popBody('flood-99')).expect(429);
    expect(refused.body).toEqual({
      statusCode: 429,
      error: 'Too Many Requests',
      message: expect.stringMatching(/^Too many new server names from your address: at most 20 per hour \(REGISTRATIONS_PER_HOUR_PER_ADDRESS\)\. Keep using a name you registered before, or try a new one in 3 minute\(s\)$/),
    });
    // A registered server keeps popping; only new names are refused.
    await t.http.post('/generate/pop').send(popBody('flood-0')).expect(200);
    expect((await t.http.get('/servers').expect(200)).body).toHaveLength(20);
  });

  it('counts the client address behind a trusted proxy (TRUST_PROXY), not the proxy', async () => {
    t = await startTestApp({ TRUST_PROXY: 'true', REGISTRATIONS_PER_HOUR_PER_ADDRESS: 2 });
    const pop = (name: string, address: string) => t.http.post('/generate/pop').set('X-Forwarded-For', address).send(popBody(name));
    await pop('a1', '203.0.113.1').expect(200);
    await pop('a2', '203.0.113.1').expect(200);
    await pop('a3', '203.0.113.1').expect(429);
    await pop('b1', '203.0.113.2').expect(200);
  });
});
