import { request as httpRequest } from 'node:http';
import { AddressInfo } from 'node:net';
import { ClusterSweeper } from '../src/generation/cluster-sweeper';
import { NERYS_13B, popBody, useTestApp } from './support/test-app';

/** What KoboldAI United sends in CLUSTER mode (aiserver.py's cluster request). */
const clusterModeBody = {
  prompt: 'You are standing in an open field west of a white house.',
  params: {
    max_length: 40,
    max_context_length: 1024,
    rep_pen: 1.1,
    rep_pen_range: 1024,
    rep_pen_slope: 0.7,
    temperature: 0.5,
    tfs: 1,
    top_a: 0,
    top_k: 0,
    top_p: 0.9,
    typical: 1,
    n: 2,
    quiet: true,
  },
  username: 'Anonymous',
  models: [NERYS_13B],
};

describe('POST /generate/sync (e2e)', () => {
  const t = useTestApp();

  /** A bridge: pops until it has served `jobs` generations, answering each with `text(payload)`. */
  async function workerLoop(name: string, jobs: number, text: (payload: Record<string, unknown>, i: number) => string): Promise<Record<string, unknown>[]> {
    const payloads: Record<string, unknown>[] = [];
    for (let attempts = 0; payloads.length < jobs && attempts < 1000; attempts++) {
      const pop = await t.http.post('/generate/pop').send(popBody(name)).expect(200);
      if (pop.body.id === null) {
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      payloads.push(pop.body.payload);
      await t.http
        .post('/generate/submit')
        .send({ id: pop.body.id, password: `${name}-password`, generation: text(pop.body.payload, payloads.length) })
        .expect(200);
    }
    return payloads;
  }

  /** Polls with a server of another model until `count` requests are waiting (its `skipped.model`). */
  async function untilWaiting(count: number): Promise<void> {
    for (let i = 0; i < 500; i++) {
      const pop = await t.http.post('/generate/pop').send(popBody('observer', { model: 'observer/model' })).expect(200);
      if (pop.body.skipped.model === count) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error(`never saw ${count} waiting request(s)`);
  }

  it('answers 200 with the list of n generations, served by a worker loop (CLUSTER-mode body)', async () => {
    await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    const sync = t.http.post('/generate/sync').send(clusterModeBody).then((res) => res);
    const payloads = await workerLoop('alpha', 2, (_payload, i) => ` generation ${i}`);
    const res = await sync;
    expect(res.status).toBe(200);
    expect(res.body.sort()).toEqual([' generation 1', ' generation 2']);
    const { n: _n, ...paramsWithoutN } = clusterModeBody.params;
    for (const payload of payloads) expect(payload).toEqual({ ...paramsWithoutN, prompt: clusterModeBody.prompt, n: 1 });
  });

  it('answers 503 at once, with the reason, when no active server can serve the request', async () => {
    const none = await t.http.post('/generate/sync').send(clusterModeBody).expect(503);
    expect(none.body.message).toContain('no server is active');

    await t.http.post('/generate/pop').send(popBody('alpha', { max_length: 20 })).expect(200);
    const short = await t.http.post('/generate/sync').send(clusterModeBody).expect(503);
    expect(short.body.message).toContain('none generates 40 tokens');

    const wrongModel = await t.http.post('/generate/sync').send({ ...clusterModeBody, models: ['other/model'] }).expect(503);
    expect(wrongModel.body.message).toContain('other/model');
  });

  it('answers 504 when the request expires while waiting', async () => {
    await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    const sync = t.http.post('/generate/sync').send({ ...clusterModeBody, params: { n: 1 } }).then((res) => res);
    await untilWaiting(1);
    await t.app.get(ClusterSweeper).sweep(Date.now() + 601_000);
    const res = await sync;
    expect(res.status).toBe(504);
    expect(res.body.message).toContain('expired');
  });

  it('cancels the request when the client disconnects: its waiting slots are freed', async () => {
    await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    const client = httpRequest({ host: '127.0.0.1', port, path: '/generate/sync', method: 'POST', headers: { 'Content-Type': 'application/json' } });
    const closed = new Promise<void>((resolve) => client.on('close', () => resolve()));
    client.on('error', () => undefined);
    client.end(JSON.stringify({ ...clusterModeBody, params: { n: 3 } }));
    await untilWaiting(1);
    client.destroy();
    await closed;
    await untilWaiting(0);
    const pop = await t.http.post('/generate/pop').send(popBody('beta')).expect(200);
    expect(pop.body).toEqual({ id: null, skipped: { model: 0, max_length: 0, max_content_length: 0 } });
  });
});
