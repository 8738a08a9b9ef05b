import { countTokens } from '../src/generation/domain/token-counter';
import { NERYS_13B, NERYS_27B, popBody, useTestApp } from './support/test-app';

describe('Fair share and queue transparency (e2e)', () => {
  const t = useTestApp({ FAIR_SHARE_BALANCE_CAP: 1000, FAIR_SHARE_AGING_PER_SECOND: 5 });

  const create = async (body: Record<string, unknown>): Promise<string> => (await t.http.post('/generate/prompt').send(body).expect(200)).body.id;
  const status = async (id: string) => (await t.http.get(`/generate/prompt/${id}`).expect(200)).body;
  const text = ' the generated text, long enough to count';

  /** `contributor`'s server generates one text for `consumer`: the one gains a balance, the other loses it. */
  async function trade(contributor: string, consumer: string): Promise<void> {
    await create({ prompt: 'warm-up', username: consumer });
    const pop = await t.http.post('/generate/pop').send(popBody(`${contributor}-server`, { username: contributor })).expect(200);
    await t.http.post('/generate/submit').send({ id: pop.body.id, password: `${contributor}-server-password`, generation: text }).expect(200);
  }

  it("serves a contributor's request before an older request of a pure consumer", async () => {
    await trade('giver', 'taker');
    const older = await create({ prompt: 'consumer asks first', username: 'taker' });
    const newer = await create({ prompt: 'contributor asks later', username: 'giver' });
    const pop = await t.http.post('/generate/pop').send(popBody('neutral')).expect(200);
    expect(pop.body.payload.prompt).toBe('contributor asks later');
    expect((await status(newer)).processing).toBe(1);
    expect((await status(older)).waiting).toBe(1);
  });

  it("serves the server owner's and its priority_usernames' requests first", async () => {
    await trade('rich', 'poor');
    await create({ prompt: 'rich', username: 'rich' });
    await create({ prompt: 'friend', username: 'friend' });
    await create({ prompt: 'owner', username: 'owner' });
    const pop = (extra: Record<string, unknown> = {}) => t.http.post('/generate/pop').send(popBody('own-server', { username: 'owner', ...extra }));
    // The owner is always among the priority usernames; among them, the usual order (here: age).
    expect((await pop({ priority_usernames: ['friend'] })).body.payload.prompt).toBe('friend');
    expect((await pop({ priority_usernames: ['friend'] })).body.payload.prompt).toBe('owner');
    expect((await pop({ priority_usernames: ['friend'] })).body.payload.prompt).toBe('rich');
    // Without priority usernames, the contributor's request would have gone first.
    await create({ prompt: 'friend again', username: 'friend' });
    await create({ prompt: 'rich again', username: 'rich' });
    expect((await t.http.post('/generate/pop').send(popBody('neutral'))).body.payload.prompt).toBe('rich again');
  });

  it('counts in queue_position only the slots the servers able to serve the request could take', async () => {
    // Two kinds of servers: one runs 13B, one runs 2.7B.
    await t.http.post('/generate/pop').send(popBody('big', { model: NERYS_13B })).expect(200);
    await t.http.post('/generate/pop').send(popBody('small', { model: NERYS_27B })).expect(200);
    await create({ prompt: 'for 2.7B only', models: [NERYS_27B], params: { n: 5 } });
    await create({ prompt: 'for any', params: { n: 2 } });
    const mine = await create({ prompt: 'mine', models: [NERYS_13B], params: { n: 3 } });
    await create({ prompt: 'after me', params: { n: 4 } });
    const standing = await status(mine);
    // The 13B server could take the 2 slots of "for any" first; the 2.7B-only slots do not count.
    expect(standing).toMatchObject({ queue_position: 2, is_possible: true, impossible_reason: null, waiting: 3 });
    await t.http.post('/generate/pop').send(popBody('big', { model: NERYS_13B })).expect(200);
    expect((await status(mine)).queue_position).toBe(1);
  });

  it('gives queue_position in the line of the kind of server nearest to the request when several kinds can serve it', async () => {
    await t.http.post('/generate/pop').send(popBody('big', { model: NERYS_13B })).expect(200);
    await t.http.post('/generate/pop').send(popBody('small', { model: NERYS_27B })).expect(200);
    await create({ prompt: 'for 2.7B only', models: [NERYS_27B], params: { n: 5 } });
    await create({ prompt: 'for 13B only', models: [NERYS_13B], params: { n: 2 } });
    const mine = await create({ prompt: 'mine', models: [NERYS_13B, NERYS_27B] });
    // 2 slots ahead in the 13B server's line, 5 in the 2.7B server's: the fewest.
    expect((await status(mine)).queue_position).toBe(2);
    await t.http.post('/generate/pop').send(popBody('big', { model: NERYS_13B })).expect(200);
    expect((await status(mine)).queue_position).toBe(1);
  });

  it('estimates the wait from the measured speed of the servers able to serve it', async () => {
    const first = await create({ prompt: 'first', params: { max_length: 20 } });
    const pop = await t.http.post('/generate/pop').send(popBody('alpha', { max_length: 20 })).expect(200);
    await t.http.post('/generate/submit').send({ id: pop.body.id, password: 'alpha-password', generation: text }).expect(200);
    expect((await status(first)).wait_time).toBe(0);
    const mine = await create({ prompt: 'mine', params: { max_length: 20, n: 2 } });
    const [server] = (await t.http.get('/servers')).body;
    const expected = Math.ceil((2 * 20) / server.tokens_per_second);
    // The figure is rounded for display; allow for that rounding.
    expect(Math.abs((await status(mine)).wait_time - expected)).toBeLessThanOrEqual(Math.ceil(expected * 0.01) + 1);
  });

  it('says is_possible: false when the last capable server goes stale, and true again when one checks in', async () => {
    await t.http.post('/generate/pop').send(popBody('alpha', { model: NERYS_13B })).expect(200);
    const id = await create({ prompt: 'p', models: [NERYS_13B] });
    expect(await status(id)).toMatchObject({ is_possible: true, impossible_reason: null });

    const later = Date.now() + 301_000;
    const now = jest.spyOn(Date, 'now').mockImplementation(() => later);
    try {
      await t.http.post('/generate/pop').send(popBody('other', { model: NERYS_27B })).expect(200);
      const stale = await status(id);
      expect(stale).toMatchObject({ is_possible: false, wait_time: null });
      expect(stale.impossible_reason).toContain(NERYS_13B);
      // Still accepted: a server may join.
      await create({ prompt: 'still accepted', models: [NERYS_13B] });
      await t.http.post('/generate/sync').send({ prompt: 'p', models: [NERYS_13B] }).expect(503);

      await t.http.post('/generate/pop').send(popBody('beta', { model: NERYS_13B })).expect(200);
      expect(await status(id)).toMatchObject({ is_possible: true });
    } finally {
      now.mockRestore();
    }
  });

  it('answers GET /users/:username with usage, contributions, balance and waiting requests; 404 for a stranger', async () => {
    await trade('giver', 'taker');
    await create({ prompt: 'waiting', username: 'taker' });
    const tokens = countTokens(text);
    expect((await t.http.get('/users/giver').expect(200)).body).toEqual({ username: 'giver', usage: 0, contributions: tokens, balance: tokens, waiting_requests: 0 });
    expect((await t.http.get('/users/taker').expect(200)).body).toEqual({ username: 'taker', usage: tokens, contributions: 0, balance: -tokens, waiting_requests: 1 });
    const res = await t.http.get('/users/nobody').expect(404);
    expect(res.body.message).toContain('nobody');
  });
});
