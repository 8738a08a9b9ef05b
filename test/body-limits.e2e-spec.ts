/**
 * The size of a request, all of it (issue 11 #9): the body as a whole (BODY_LIMIT_BYTES, which by
 * default follows MAX_PROMPT_CHARS and MAX_PARAMS_BYTES) and `params` on its own (MAX_PARAMS_BYTES),
 * on every route that creates a request. Default limits here, as an operator gets them.
 */
import { NERYS_13B, popBody, useTestApp } from './support/test-app';

const CREATE_ROUTES = ['/generate/prompt', '/generate/async', '/generate/sync'];

describe('Body and params size limits (e2e, default limits)', () => {
  const t = useTestApp({}, 'all');

  it.each(CREATE_ROUTES)('refuses 1 MB of junk params on %s with a 413 naming BODY_LIMIT_BYTES', async (route) => {
    const junk = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`junk${i}`, 'x'.repeat(1024)]));
    const res = await t.http.post(route).send({ prompt: 'p', params: { max_length: 16, ...junk } }).expect(413);
    expect(res.body).toEqual({
      statusCode: 413,
      error: 'Payload Too Large',
      message: expect.stringMatching(/^The request body \(\d+ bytes\) is larger than BODY_LIMIT_BYTES \(681920 bytes\) allows$/),
    });
  });

  it.each(CREATE_ROUTES)('refuses params over MAX_PARAMS_BYTES on %s with a 413 naming it, inside the body limit', async (route) => {
    const res = await t.http.post(route).send({ prompt: 'p', params: { max_length: 16, memory: 'm'.repeat(20_000) } }).expect(413);
    expect(res.body).toEqual({
      statusCode: 413,
      error: 'Payload Too Large',
      message: expect.stringMatching(/^params is 200\d\d bytes long as JSON; the limit is MAX_PARAMS_BYTES \(16384\)$/),
    });
  });

  it('queued nothing it refused, and still takes the longest prompt sent the way Python escapes it, with params at the limit', async () => {
    await t.http.post('/generate/pop').send(popBody('limits')).expect(200, { id: null, skipped: { model: 0, max_length: 0, max_content_length: 0 } });
    // 100,000 CJK characters as json.dumps writes them (ensure_ascii): 600,000 bytes of \uXXXX escapes.
    const prompt = '字'.repeat(100_000);
    const params = { max_length: 16, memory: 'm'.repeat(16_384 - 29) };
    expect(Buffer.byteLength(JSON.stringify(params))).toBe(16_384);
    const body = JSON.stringify({ prompt, params, username: 'db0', models: [NERYS_13B] }).replace(/字/g, '\\u5b57');
    await t.http.post('/generate/prompt').set('Content-Type', 'application/json').send(body).expect(200);
    const pop = await t.http.post('/generate/pop').send(popBody('limits')).expect(200);
    expect(pop.body.payload).toEqual({ ...params, prompt, n: 1 });
  });
});
