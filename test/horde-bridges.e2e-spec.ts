import { existsSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ANONYMOUS_KEY, popJob, registerUser, scribePopBody } from './support/horde';
import { NodeProcess, waitFor } from './support/processes';
import { NERYS_13B, NERYS_27B, useTestApp } from './support/test-app';

/**
 * One queue, one ledger, one set of servers whichever API speaks: a real v1 bridge (dist/bridge, in
 * front of the KoboldAI simulator) and a v2 worker (replayed as the AI-Horde-Worker scribe pops and
 * submits: worker/jobs/poppers.py, worker/jobs/scribe.py) serve v2 and v1 requests alike. The cluster
 * is the in-process app, so KC_TEST_STORE=redis runs this against the Redis store too.
 */

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..');
const BRIDGE = 'V1 Bridge';
const SCRIBE = 'V2 Scribe';

interface V2Status {
  done: boolean;
  finished: number;
  kudos: number;
  generations: { text: string; worker_name: string; worker_id: string; model: string }[];
}

describe('A v2 worker and a v1 bridge serve v2 and v1 requests', () => {
  const app = useTestApp();
  const processes: NodeProcess[] = [];

  beforeAll(() => {
    for (const script of ['dist/kai-sim/main.js', 'dist/bridge/main.js']) {
      if (!existsSync(join(ROOT, script))) throw new Error(`${script} is missing: run \`npm run build\` first.`);
    }
  });

  afterEach(async () => {
    for (const process of processes.splice(0)) await process.stop();
  });

  async function startBridge(clusterUrl: string): Promise<void> {
    const sim = new NodeProcess('sim', 'dist/kai-sim/main.js', ['--port', '0', '--model', NERYS_27B, '--delay-ms', '20', '-q']);
    processes.push(sim);
    const line = await sim.waitForLine(/listening on http:\/\/[\d.]+:\d+/);
    const simUrl = /(http:\/\/[\d.]+:\d+)/.exec(line)![1];
    const bridge = new NodeProcess('bridge', 'dist/bridge/main.js', ['-u', 'bridge-owner', '-p', 'bridge password', '-n', BRIDGE, '-k', simUrl, '-c', clusterUrl, '-i', '0.1', '--max-backoff', '0.5']);
    processes.push(bridge);
  }

  it('routes each request to whichever worker runs its model, and credits one ledger', async () => {
    const clusterUrl = `http://127.0.0.1:${(app.app.getHttpServer().address() as AddressInfo).port}`;
    const key = await registerUser(app.http, 'scribe-owner');
    await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody(SCRIBE, NERYS_13B)).expect(200);
    await startBridge(clusterUrl);
    await waitFor('the bridge in /servers', async () => ((await app.http.get('/servers')).body as { name: string }[]).some((s) => s.name === BRIDGE));

    // Both are listed by both APIs.
    const v2Workers = (await app.http.get('/api/v2/workers?type=text').expect(200)).body as { name: string; id: string; models: string[] }[];
    expect(v2Workers.map((w) => [w.name, w.models]).sort()).toEqual([[BRIDGE, [NERYS_27B]], [SCRIBE, [NERYS_13B]]].sort());
    const v1Servers = (await app.http.get('/servers').expect(200)).body as { name: string; model: string }[];
    expect(v1Servers.map((s) => [s.name, s.model]).sort()).toEqual([[BRIDGE, NERYS_27B], [SCRIBE, NERYS_13B]].sort());

    // A v2 request (Lite-shaped) for the bridge's model: served by the v1 bridge.
    const v2 = await app.http.post('/api/v2/generate/text/async').set({ apikey: ANONYMOUS_KEY, 'Client-Agent': 'KoboldAiLite:17' }).send({ prompt: 'A v2 prompt', params: { n: 1, max_length: 16 }, models: [NERYS_27B] }).expect(202);
    // A v1 request (the original README's shape) for the scribe's model: served by the v2 worker.
    const v1 = await app.http.post('/generate/prompt').send({ prompt: 'A v1 prompt', params: { max_length: 16, n: 1 }, username: 'v1-requester', models: [NERYS_13B] }).expect(200);

    const job = await popJob(app.http, key, scribePopBody(SCRIBE, NERYS_13B), 1);
    expect(job.payload).toMatchObject({ prompt: 'A v1 prompt', max_length: 16, max_context_length: 1024, n: 1 });
    const reward = (await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: job.id, generation: ' from the scribe', seed: 0 }).expect(200)).body.reward as number;

    const v1Status = (await app.http.get(`/generate/prompt/${v1.body.id as string}`).expect(200)).body as { done: boolean; generations: string[] };
    expect(v1Status).toMatchObject({ done: true, generations: [' from the scribe'] });
    const v2Status = await waitFor('the bridge to serve the v2 request', async () => {
      const status = (await app.http.get(`/api/v2/generate/text/status/${v2.body.id as string}`).expect(200)).body as V2Status;
      return status.done ? status : undefined;
    });
    const bridgeId = v2Workers.find((w) => w.name === BRIDGE)!.id;
    expect(v2Status.generations).toEqual([{ text: expect.any(String), seed: 0, worker_name: BRIDGE, worker_id: bridgeId, model: NERYS_27B, state: 'ok' }]);
    // The same request read through the v1 API, and the other way round.
    const sameThroughV1 = (await app.http.get(`/generate/prompt/${v2.body.id as string}`).expect(200)).body as { generations: string[] };
    expect(sameThroughV1.generations).toEqual([v2Status.generations[0].text]);
    const v1ThroughV2 = (await app.http.get(`/api/v2/generate/text/status/${v1.body.id as string}`).expect(200)).body as V2Status;
    expect(v1ThroughV2.generations[0]).toMatchObject({ text: ' from the scribe', worker_name: SCRIBE, model: NERYS_13B });

    // One ledger: the anonymous v2 requester used what the bridge contributed, the v1 requester what the scribe did.
    const usage = (await app.http.get('/usage').expect(200)).body as Record<string, number>;
    const contributions = (await app.http.get('/contributions').expect(200)).body as Record<string, number>;
    expect(usage).toEqual({ Anonymous: v2Status.kudos, 'v1-requester': reward });
    expect(contributions).toEqual({ 'bridge-owner': v2Status.kudos, 'scribe-owner': reward });
    const user = (await app.http.get('/api/v2/find_user').set('apikey', key).expect(200)).body as { kudos: number; worker_ids: string[] };
    expect(user.kudos).toBe(reward);
    expect(user.worker_ids).toEqual([v2Workers.find((w) => w.name === SCRIBE)!.id]);
  });

  it('tries a v2 worker\'s models in order: listed with the first, serves requests for any', async () => {
    const key = await registerUser(app.http, 'multi');
    const body = scribePopBody('Multi box', NERYS_13B, { models: [NERYS_13B, NERYS_27B] });
    const idle = await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(body).expect(200);
    expect(idle.body.id).toBeNull();
    const created = await app.http.post('/api/v2/generate/text/async').send({ prompt: 'second model', params: { n: 1 }, models: [NERYS_27B] }).expect(202);
    const job = await popJob(app.http, key, body, 1);
    expect(job.model).toBe(NERYS_27B);
    await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: job.id, generation: ' done' }).expect(200);
    const status = (await app.http.get(`/api/v2/generate/text/status/${created.body.id as string}`).expect(200)).body as V2Status;
    expect(status.generations[0]).toMatchObject({ worker_name: 'Multi box', model: NERYS_27B });
    expect((await app.http.get('/api/v2/workers').expect(200)).body[0].models).toEqual([NERYS_13B]);
  });

  it('tells an idle v2 worker what it skipped over all its models: a request for its second model that is too long is a length skip, not a model skip', async () => {
    const key = await registerUser(app.http, 'skipper');
    await app.http.post('/api/v2/generate/text/async').send({ prompt: 'too long', params: { n: 1, max_length: 400 }, models: [NERYS_27B] }).expect(202);
    await app.http.post('/api/v2/generate/text/async').send({ prompt: 'elsewhere', params: { n: 1 }, models: ['another/model'] }).expect(202);
    const idle = await app.http
      .post('/api/v2/generate/text/pop')
      .set('apikey', key)
      .send(scribePopBody('Skip box', NERYS_13B, { models: [NERYS_13B, NERYS_27B], max_length: 80 }))
      .expect(200);
    expect(idle.body).toEqual({ id: null, ids: [], skipped: { models: 1, max_context_length: 0, max_length: 1 } });
    // With its first model alone, the too-long request is one it cannot run at all.
    const single = await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody('Skip box', NERYS_13B)).expect(200);
    expect(single.body.skipped).toEqual({ models: 2, max_context_length: 0, max_length: 0 });
  });
});
