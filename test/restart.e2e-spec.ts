import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { countTokens } from '../src/generation/domain/token-counter';
import { makeDataDir, popBody, removeDataDir, startTestApp } from './support/test-app';

// Two app starts on one DATA_DIR, each new server written and fdatasynced before its pop is answered, and
// scrypt for each password: about half a second alone, but it shares the disk and the 2 cores with the
// rest of the suite in CI (a CI run took 6.9 s), so the default 5 s is too tight.
jest.setTimeout(30_000);

describe('Restart on the same DATA_DIR (e2e)', () => {
  let dataDir: string;

  beforeEach(() => {
    dataDir = makeDataDir();
  });

  afterEach(() => removeDataDir(dataDir));

  it('keeps usage, contributions and servers, and still accepts the server password', async () => {
    const secretPrompt = 'my very secret prompt text';
    const secretGeneration = ' a secret generation';
    const first = await startTestApp({}, dataDir);
    await first.http.post('/generate/prompt').send({ prompt: secretPrompt, username: 'db0' }).expect(200);
    const pop = await first.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    await first.http.post('/generate/submit').send({ id: pop.body.id, password: 'alpha-password', generation: secretGeneration }).expect(200);
    const before = {
      usage: (await first.http.get('/usage')).body,
      contributions: (await first.http.get('/contributions')).body,
      server: (await first.http.get('/servers')).body[0],
    };
    await first.close();

    // Nothing private reached the disk.
    for (const file of readdirSync(dataDir)) {
      const text = readFileSync(join(dataDir, file), 'utf8');
      expect(text).not.toContain(secretPrompt);
      expect(text).not.toContain(secretGeneration);
      expect(text).not.toContain('alpha-password');
    }

    const second = await startTestApp({}, dataDir);
    try {
      expect((await second.http.get('/usage')).body).toEqual(before.usage);
      expect(before.usage).toEqual({ db0: countTokens(secretGeneration) });
      expect((await second.http.get('/contributions')).body).toEqual(before.contributions);
      expect((await second.http.get(`/servers/${before.server.id}`)).body).toMatchObject({
        name: 'alpha',
        tokens_generated: before.server.tokens_generated,
        requests_fulfilled: 1,
      });
      await second.http.post('/generate/pop').send(popBody('alpha')).expect(200);
      await second.http.post('/generate/pop').send(popBody('alpha', { password: 'other' })).expect(401);
      expect((await second.http.get('/servers')).body).toEqual([expect.objectContaining({ id: before.server.id })]);
    } finally {
      await second.close();
    }
  });

  it('refuses to start on a corrupt snapshot, naming the file, and leaves it alone', async () => {
    const file = join(dataDir, 'users.json');
    writeFileSync(file, '{"version":1,"users":[{"username":');
    // About DATA_DIR's snapshots, which only the in-memory stores read: in the memory store in either mode of the suite.
    await expect(startTestApp({ REDIS_URL: '' }, dataDir)).rejects.toThrow(/users\.json.*corrupt/);
    expect(readFileSync(file, 'utf8')).toBe('{"version":1,"users":[{"username":');
  });
});
