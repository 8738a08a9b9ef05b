import { popBody, useTestApp } from './support/test-app';

describe('Malformed input (e2e)', () => {
  const t = useTestApp({ MAX_N: 10, MAX_PROMPT_CHARS: 1000, BODY_LIMIT_BYTES: 10_000 }, 'all');

  const promptCases: [string, unknown, string][] = [
    ['missing prompt', { params: {} }, 'prompt'],
    ['empty prompt', { prompt: '' }, 'prompt'],
    ['numeric prompt', { prompt: 42 }, 'prompt must be a string'],
    ['params as a string', { prompt: 'p', params: 'n=2' }, 'params must be an object'],
    ['params as a list', { prompt: 'p', params: [1, 2] }, 'params must be an object'],
    ['n as a string', { prompt: 'p', params: { n: '2' } }, 'params.n must be an integer'],
    ['fractional n', { prompt: 'p', params: { n: 1.5 } }, 'params.n must be an integer'],
    ['negative n', { prompt: 'p', params: { n: -1 } }, 'params.n'],
    ['n above MAX_N', { prompt: 'p', params: { n: 11 } }, 'MAX_N'],
    ['huge max_length', { prompt: 'p', params: { max_length: 1e12 } }, 'params.max_length'],
    ['max_content_length as a string', { prompt: 'p', params: { max_content_length: 'big' } }, 'params.max_content_length'],
    ['max_context_length negative', { prompt: 'p', params: { max_context_length: -5 } }, 'params.max_context_length'],
    ['models as a string', { prompt: 'p', models: 'KoboldAI/fairseq-dense-13B-Nerys-v2' }, 'models must be an array'],
    ['models with a number', { prompt: 'p', models: ['a', 3] }, 'models'],
    ['username as a number', { prompt: 'p', username: 7 }, 'username must be a string'],
    ['very long username', { prompt: 'p', username: 'u'.repeat(101) }, 'username'],
    ['prompt above MAX_PROMPT_CHARS', { prompt: 'p'.repeat(1001) }, 'MAX_PROMPT_CHARS'],
  ];

  it.each(promptCases)('POST /generate/prompt with %s → 400 naming the field', async (_name, body, expected) => {
    const res = await t.http.post('/generate/prompt').send(body as object).expect(400);
    expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining(expected) });
  });

  it.each(promptCases.slice(0, 6))('POST /generate/sync with %s → 400 too', async (_name, body, expected) => {
    const res = await t.http.post('/generate/sync').send(body as object).expect(400);
    expect(res.body.message).toContain(expected);
  });

  const popCases: [string, Record<string, unknown>, string][] = [
    ['no name', { name: undefined }, 'name'],
    ['no password', { password: undefined }, 'password'],
    ['numeric model', { model: 13 }, 'model must be a string'],
    ['max_length as a string', { max_length: '80' }, 'max_length must be an integer'],
    ['negative max_content_length', { max_content_length: -1 }, 'max_content_length'],
    ['priority_usernames as a string', { priority_usernames: 'db0' }, 'priority_usernames'],
    ['long name', { name: 'n'.repeat(101) }, 'name'],
  ];

  it.each(popCases)('POST /generate/pop with %s → 400 naming the field', async (_name, change, expected) => {
    const res = await t.http.post('/generate/pop').send(popBody('validator', change)).expect(400);
    expect(res.body.message).toContain(expected);
  });

  it.each([
    ['no id', { password: 'p', generation: 'g' }, 'id'],
    ['numeric generation', { id: 'x', password: 'p', generation: 5 }, 'generation must be a string'],
    ['no password', { id: 'x', generation: 'g' }, 'password'],
  ])('POST /generate/submit with %s → 400 naming the field', async (_name, body, expected) => {
    const res = await t.http.post('/generate/submit').send(body).expect(400);
    expect(res.body.message).toContain(expected);
  });

  it.each([
    ['invalid JSON', '{"prompt": "p",', /JSON/],
    ['a JSON list', '[1, 2]', /must be a JSON object/],
    ['a JSON string', '"prompt"', /JSON/],
    ['null', 'null', /JSON/],
  ])('answers 400 for a body that is %s', async (_name, text, expected) => {
    const res = await t.http.post('/generate/prompt').set('Content-Type', 'application/json').send(text).expect(400);
    expect(res.body.statusCode).toBe(400);
    expect(res.body.message).toMatch(expected);
  });

  it('reads a JSON body sent without a JSON Content-Type (curl -d)', async () => {
    await t.http.post('/generate/prompt').set('Content-Type', 'application/x-www-form-urlencoded').send('{"prompt": "p"}').expect(200);
  });

  it('answers 413 for a body over BODY_LIMIT_BYTES', async () => {
    const res = await t.http.post('/generate/prompt').send({ prompt: 'x'.repeat(20_000) }).expect(413);
    expect(res.body).toEqual({ statusCode: 413, error: 'Payload Too Large', message: expect.stringContaining('BODY_LIMIT_BYTES') });
  });

  it('answers 404 in the same error shape for an unknown route', async () => {
    const res = await t.http.get('/nope').expect(404);
    expect(res.body).toEqual({ statusCode: 404, error: 'Not Found', message: expect.any(String) });
  });

  it('keeps serving after all of the above', async () => {
    await t.http.post('/generate/prompt').send({ prompt: 'still here' }).expect(200);
  });
});
