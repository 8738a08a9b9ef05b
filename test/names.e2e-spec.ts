/**
 * Names that could pass for other names (issue 11 #10): server names, usernames and model names with
 * control, bidirectional-override or invisible characters are refused with a 400 naming the field, on
 * every route that takes one; ordinary Unicode is accepted and listed as sent.
 */
import { NERYS_13B, popBody, useTestApp } from './support/test-app';

const RULE = 'must not contain control, bidirectional-override or invisible characters';

describe('Names (e2e)', () => {
  const t = useTestApp({}, 'all');

  it.each([
    ['a server name with a right-to-left override', '/generate/pop', popBody('Db0\u202Eecnatsni', { username: 'db0' }), 'name', 'U+202E at position 3'],
    ['a server name with a zero-width space', '/generate/pop', popBody('\u200BDb0', { username: 'db0' }), 'name', 'U+200B at position 0'],
    ['a server name with a newline', '/generate/pop', popBody('Db0\nERROR [Fake] forged', { username: 'db0' }), 'name', 'U+000A at position 3'],
    ['an owner username with a BOM', '/generate/pop', popBody('bridge', { username: 'db0\uFEFF' }), 'username', 'U+FEFF at position 3'],
    ['a model name with a left-to-right mark', '/generate/pop', popBody('bridge', { model: `${NERYS_13B}\u200E` }), 'model', `U+200E at position ${NERYS_13B.length}`],
    ['a priority username with an isolate', '/generate/pop', popBody('bridge', { priority_usernames: ['db0', 'he\u2066nk'] }), 'priority_usernames[1]', 'U+2066 at position 2'],
    ['a requester username with a C1 control', '/generate/prompt', { prompt: 'p', username: 'db0\u0085' }, 'username', 'U+0085 at position 3'],
    ['a requester username with an ANSI escape', '/generate/sync', { prompt: 'p', username: '\u001B[2Jdb0' }, 'username', 'U+001B at position 0'],
    ['a wished model with a word joiner', '/generate/async', { prompt: 'p', models: [NERYS_13B, 'x\u2060y'] }, 'models[1]', 'U+2060 at position 1'],
  ])('refuses %s with a 400 naming the field', async (_label, route, body, field, fault) => {
    const res = await t.http.post(route).send(body).expect(400);
    expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message: `${field} ${RULE} (zero-width, BOM, ...): ${fault}` });
  });

  it('created nothing for the refused names', async () => {
    expect((await t.http.get('/servers').expect(200)).body).toEqual([]);
    expect((await t.http.get('/usage').expect(200)).body).toEqual({});
  });

  it('accepts accents, CJK, right-to-left scripts, emoji and emoji sequences, and lists them as sent', async () => {
    const name = 'Zoë\'s 東京 خادم 🚀 👩‍💻 🏴󠁧󠁢󠁳󠁣󠁴󠁿';
    const username = 'Ångström 👨‍👩‍👧';
    await t.http.post('/generate/pop').send(popBody(name, { username, priority_usernames: ['Núñez'] })).expect(200);
    const created = await t.http.post('/generate/prompt').send({ prompt: 'p', username: 'Núñez', models: [NERYS_13B] }).expect(200);
    const pop = await t.http.post('/generate/pop').send(popBody(name, { username })).expect(200);
    await t.http.post('/generate/submit').send({ id: pop.body.id, password: `${name}-password`, generation: ' done' }).expect(200);
    expect((await t.http.get('/servers').expect(200)).body.map((s: { name: string }) => s.name)).toEqual([name]);
    expect((await t.http.get('/contributions').expect(200)).body).toEqual({ [username]: 1 });
    expect((await t.http.get(`/generate/prompt/${created.body.id}`).expect(200)).body.finished).toBe(1);
  });

  it('documents the rule in the OpenAPI document', async () => {
    const spec = (await t.http.get('/api-json').expect(200)).body;
    const described = (schema: string, field: string): string => spec.components.schemas[schema].properties[field].description as string;
    for (const [schema, field] of [['PopRequestDto', 'name'], ['PopRequestDto', 'username'], ['PopRequestDto', 'model'], ['CreatePromptDto', 'username']]) {
      expect(described(schema, field)).toContain('No control, bidirectional-override or invisible characters');
    }
  });
});
