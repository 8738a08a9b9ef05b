import { ANONYMOUS_KEY, HordeJob, popJob, registerUser, scribePopBody } from './support/horde';
import { NERYS_13B, NERYS_27B, popBody, useTestApp } from './support/test-app';

/**
 * Each client of the AI Horde v2 text API, replayed against the real app as its source shows it: the
 * requests in order, the headers, the fields sent, and the fields read back (each `expect` on an answer
 * is a field the client reads). The clients' sources are the mirrors of their repositories; file paths
 * are given per client. With KC_TEST_STORE=redis the same replays run against the Redis store.
 */

jest.setTimeout(30_000);

const WORKER = "Db0's Scribe";
const TEXT = ' as he stood before me.';

interface Status {
  finished: number;
  processing: number;
  restarted: number;
  waiting: number;
  done: boolean;
  faulted: boolean;
  wait_time: number;
  queue_position: number;
  kudos: number;
  is_possible: boolean;
  generations: { text: string; seed: number; worker_id: string; worker_name: string; model: string; state: string }[];
  message?: string;
}

/*
 * KoboldAI United, Horde backend (henk717/KoboldAI modeling/inference_models/horde/class.py):
 * - get_cluster_models: GET {url}/api/v2/status/models?type=text, no header; reads `req.ok`, each entry's `name`.
 * - _raw_generate: POST {url}/api/v2/generate/text/async with headers `apikey` (default 0000000000) and
 *   `Client-Agent: KoboldAI:2.0.0:koboldai.org`, body {prompt, params: {max_length, max_context_length, rep_pen,
 *   rep_pen_slope, rep_pen_range, temperature, top_p, top_k, top_a, tfs, typical, n}, models, trusted_workers: false};
 *   503 means no worker; any other non-ok is an error; reads `id`.
 * - then GET {url}/api/v2/generate/text/status/{id} with `Client-Agent` only, every second until `done`; reads
 *   `done`, `wait_time`, `queue_position`, `waiting`, then `faulted` and `generations[].text`, `worker_name`, `worker_id`.
 * - abort_generation: DELETE {url}/v2/generate/text/status/{id} (no /api: served as such) with `apikey` and `Client-Agent`; reads `ok`.
 */
describe('KoboldAI United (Horde backend)', () => {
  const app = useTestApp();
  const UNITED = { 'Client-Agent': 'KoboldAI:2.0.0:koboldai.org' };

  function unitedRequest(n: number) {
    return {
      prompt: 'I entered into an argument with a clown',
      params: { max_length: 40, max_context_length: 1024, rep_pen: 1.1, rep_pen_slope: 0.7, rep_pen_range: 1024, temperature: 0.5, top_p: 0.9, top_k: 0, top_a: 0, tfs: 1, typical: 1, n },
      models: [NERYS_13B],
      trusted_workers: false,
    };
  }

  it('lists the models, queues with the anonymous key, polls the status until done and reads who generated', async () => {
    const key = await registerUser(app.http, 'db0');
    await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody(WORKER, NERYS_13B)).expect(200);

    const models = await app.http.get('/api/v2/status/models?type=text').expect(200);
    expect(models.body.map((en: { name: string }) => en.name)).toEqual([NERYS_13B]);

    const created = await app.http.post('/api/v2/generate/text/async').set({ apikey: ANONYMOUS_KEY, ...UNITED }).send(unitedRequest(2));
    expect(created.status).toBe(202);
    const id = created.body.id as string;
    expect(typeof id).toBe('string');

    const waiting = (await app.http.get(`/api/v2/generate/text/status/${id}`).set(UNITED).expect(200)).body as Status;
    expect(waiting).toMatchObject({ done: false, waiting: 2, queue_position: 0, faulted: false });
    expect(typeof waiting.wait_time).toBe('number');

    const first = await popJob(app.http, key, scribePopBody(WORKER, NERYS_13B));
    await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: first.id, generation: TEXT, seed: 0 }).expect(200);
    const half = (await app.http.get(`/api/v2/generate/text/status/${id}`).set(UNITED).expect(200)).body as Status;
    expect(half).toMatchObject({ done: false, finished: 1, waiting: 1 });
    const second = await popJob(app.http, key, scribePopBody(WORKER, NERYS_13B));
    await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: second.id, generation: ' and lost.', seed: 0 }).expect(200);

    const done = (await app.http.get(`/api/v2/generate/text/status/${id}`).set(UNITED).expect(200)).body as Status;
    expect(done).toMatchObject({ done: true, faulted: false, finished: 2, waiting: 0 });
    const worker = (await app.http.get('/api/v2/workers?type=text').expect(200)).body[0] as { id: string; name: string };
    expect(done.generations.map((g) => [g.text, g.worker_name, g.worker_id])).toEqual([
      [TEXT, WORKER, worker.id],
      [' and lost.', WORKER, worker.id],
    ]);
    // What the requester was charged, in tokens: the same as the anonymous usage of the ledger.
    const usage = (await app.http.get('/usage').expect(200)).body as Record<string, number>;
    expect(done.kudos).toBe(usage.Anonymous);
  });

  it('aborts at /v2/generate/text/status/{id}, the path without /api its abort_generation calls', async () => {
    const created = await app.http.post('/api/v2/generate/text/async').set({ apikey: ANONYMOUS_KEY, ...UNITED }).send(unitedRequest(3)).expect(202);
    const cancelled = await app.http.delete(`/v2/generate/text/status/${created.body.id}`).set({ apikey: ANONYMOUS_KEY, ...UNITED }).expect(200);
    expect(cancelled.body).toMatchObject({ done: true, waiting: 0, finished: 0 });
    await app.http.delete(`/api/v2/generate/text/status/${created.body.id}`).expect(200);
  });
});

/*
 * AI-Horde-Worker, scribe (Haidra-Org/AI-Horde-Worker):
 * - worker/bridge_data/framework.py: GET {horde_url}/api/v2/find_user with `apikey`; reads `username`.
 * - worker/jobs/poppers.py (JobPopper, ScribePopper): POST /api/v2/generate/text/pop with `apikey`, body {name,
 *   models: [model], max_length, max_context_length, priority_usernames, softprompts, bridge_agent, threads};
 *   a non-ok answer logs `message`; no `id`: logs `skipped`.
 * - worker/jobs/scribe.py: reads `id`, `payload` (payload['max_length'], payload['max_context_length'], payload['prompt'],
 *   payload.get('softprompt')) and posts the payload to KoboldAI; submit body {id, generation, seed: 0}.
 * - worker/jobs/framework.py (submit_job): POST /api/v2/generate/text/submit with `apikey`; a fault sends
 *   {id, state: 'faulted', generation: 'faulted', seed: -1}; 404 means the job went stale; 400 aborts with `message`;
 *   an ok answer's `reward` is read as a number.
 */
describe('AI-Horde-Worker (scribe)', () => {
  const app = useTestApp();

  it('finds its user, pops (skipped counts when idle), generates from the payload and submits for a reward', async () => {
    const key = await registerUser(app.http, 'db0');
    const user = await app.http.get('/api/v2/find_user').set('apikey', key).expect(200);
    expect(user.body.username).toBe('db0');

    // A request this worker cannot take: another model. The idle pop says so, by the Horde's key names.
    await app.http.post('/api/v2/generate/text/async').send({ prompt: 'elsewhere', params: { n: 1 }, models: [NERYS_27B] }).expect(202);
    const idle = await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody(WORKER, NERYS_13B)).expect(200);
    expect(idle.body).toEqual({ id: null, ids: [], skipped: { models: 1, max_context_length: 0, max_length: 0 } });

    const created = await app.http
      .post('/api/v2/generate/text/async')
      .set('apikey', ANONYMOUS_KEY)
      .send({ prompt: 'I entered into an argument with a clown', params: { n: 1, max_length: 16, temperature: 0.7, frmttriminc: true } })
      .expect(202);
    const job = await popJob(app.http, key, scribePopBody(WORKER, NERYS_13B));
    expect(job.ids).toEqual([job.id]);
    expect(job.model).toBe(NERYS_13B);
    expect(job.payload).toEqual({ prompt: 'I entered into an argument with a clown', n: 1, max_length: 16, max_context_length: 1024, temperature: 0.7, frmttriminc: true });
    expect(job.payload.softprompt).toBeUndefined();
    expect(job.ttl).toBeGreaterThanOrEqual(1);

    const submitted = await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: job.id, generation: TEXT, seed: 0 }).expect(200);
    expect(submitted.body).toEqual({ reward: 6 });
    const status = (await app.http.get(`/api/v2/generate/text/status/${created.body.id}`).expect(200)).body as Status;
    expect(status.generations).toEqual([{ text: TEXT, seed: 0, worker_id: expect.any(String), worker_name: WORKER, model: NERYS_13B, state: 'ok' }]);

    const again = await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: job.id, generation: TEXT, seed: 0 }).expect(400);
    expect(again.body.message).toBe(`Generation "${job.id}" was already submitted`);
    const stale = await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: '00000000-0000-0000-0000-000000000000', generation: TEXT, seed: 0 }).expect(404);
    expect(stale.body.message).toMatch(/No processing generation/);
  });

  it('gives a faulted job back: no reward, the slot waits again and the next pop takes it', async () => {
    const key = await registerUser(app.http, 'db0');
    const created = await app.http.post('/api/v2/generate/text/async').send({ prompt: 'fault me', params: { n: 1 } }).expect(202);
    const job = await popJob(app.http, key, scribePopBody(WORKER, NERYS_13B));
    const faulted = await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: job.id, state: 'faulted', generation: 'faulted', seed: -1 }).expect(200);
    expect(faulted.body).toEqual({ reward: 0 });
    const status = (await app.http.get(`/api/v2/generate/text/status/${created.body.id}`).expect(200)).body as Status;
    expect(status).toMatchObject({ waiting: 1, processing: 0, restarted: 1, finished: 0, faulted: false, done: false });
    const retry = await popJob(app.http, key, scribePopBody(WORKER, NERYS_13B), 1);
    expect(retry.payload.prompt).toBe('fault me');
    expect(retry.id).not.toBe(job.id);
    await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: retry.id, generation: TEXT, seed: 0 }).expect(200);
    await expect(app.http.get('/users/db0').then((r) => r.body)).resolves.toMatchObject({ contributions: 6 });
  });
});

/*
 * KoboldCpp's embedded worker (LostRuins/koboldcpp koboldcpp.py, run_horde_worker):
 * - every call sends headers `apikey`, `User-Agent: KoboldCppEmbeddedWorkerV2` and `Client-Agent: KoboldCppEmbedWorker:2`.
 * - POST /api/v2/generate/text/pop body {name, models: [friendlymodelname], max_length, max_context_length,
 *   priority_usernames: [], softprompts: [], bridge_agent}; a falsy `pop["id"]` means no job; reads `payload`,
 *   payload.get('max_length', 80), payload.get('max_context_length', 1024), and posts the payload (plus its own
 *   `genkey`) to its /api/v1/generate.
 * - POST /api/v2/generate/text/submit body {id, generation, state: 'ok'}; reads `reward` (formatted as a number).
 */
describe('KoboldCpp embedded worker', () => {
  const app = useTestApp();
  const headers = (key: string) => ({ apikey: key, 'User-Agent': 'KoboldCppEmbeddedWorkerV2', 'Client-Agent': 'KoboldCppEmbedWorker:2' });
  const popBody = { name: 'kcpp box', models: ['koboldcpp/mistral-7b'], max_length: 400, max_context_length: 4096, priority_usernames: [], softprompts: [], bridge_agent: 'KoboldCppEmbedWorker:2:https://github.com/LostRuins/koboldcpp' };

  it('pops with its headers, gets a payload it can post to its own generate, and submits with state ok', async () => {
    const key = await registerUser(app.http, 'concedo');
    const idle = await app.http.post('/api/v2/generate/text/pop').set(headers(key)).send(popBody).expect(200);
    expect(idle.body.id).toBeNull();

    await app.http.post('/api/v2/generate/text/async').send({ prompt: 'Once upon a time', params: { n: 1, max_length: 200, max_context_length: 2048 }, models: ['koboldcpp/mistral-7b'] }).expect(202);
    const pop = await app.http.post('/api/v2/generate/text/pop').set(headers(key)).send(popBody).expect(200);
    expect(pop.body.id).toEqual(expect.any(String));
    expect(pop.body.payload).toMatchObject({ prompt: 'Once upon a time', max_length: 200, max_context_length: 2048, n: 1 });

    const submit = await app.http.post('/api/v2/generate/text/submit').set(headers(key)).send({ id: pop.body.id, generation: ' there was a cat.', state: 'ok' }).expect(200);
    expect(typeof submit.body.reward).toBe('number');
    expect(submit.body.reward).toBeGreaterThan(0);
  });

  it('is refused with a message when its key is wrong (401) or the anonymous one (403)', async () => {
    const wrong = await app.http.post('/api/v2/generate/text/pop').set(headers('not-a-key')).send(popBody).expect(401);
    expect(wrong.body.message).toMatch(/No user holds this API key/);
    const anonymous = await app.http.post('/api/v2/generate/text/pop').set(headers(ANONYMOUS_KEY)).send(popBody).expect(403);
    expect(anonymous.body.message).toMatch(/Anonymous workers are not allowed/);
  });
});

/*
 * KoboldAI Lite (LostRuins/lite.koboldai.net index.html), from the browser (CORS: see horde-browser.e2e-spec.ts):
 * - at start GET /api/v2/status/performance; reads queued_text_requests, text_worker_count, queued_tokens, past_minute_tokens.
 * - GET /api/v2/status/models?type=text (model picker) and GET /api/v2/workers?type=text (worker list); reads each
 *   worker's name, models[0], id, performance, trusted, maintenance_mode, info, threads, kudos_rewards (.toFixed),
 *   max_context_length, max_length, requests_fulfilled, uptime.
 * - fetch_kudo_balance: GET /api/v2/find_user with `apikey`; reads username, kudos, worker_ids; then
 *   show_my_own_workers: GET /api/v2/workers/{id} for each worker_id (keeps those with an `id`); reads name, id, info,
 *   maintenance_mode, uptime, requests_fulfilled, kudos_rewards, online. update_my_workers: for each worker whose
 *   checkbox or trimmed description changed, PUT /api/v2/workers/{id} with Content-Type and `apikey`, body
 *   {maintenance: checked} plus `info` (trimmed) when the description is non-empty or was non-empty before; shows the
 *   answer's JSON. delete_my_worker: DELETE /api/v2/workers/{id} with Content-Type and `apikey`; shows the answer's JSON.
 * - submit: POST /api/v2/generate/text/async with Content-Type, `apikey`, `Client-Agent: KoboldAiLite:17`, body {prompt,
 *   params: {n, max_context_length, max_length, rep_pen, temperature, top_p, top_k, top_a, typical, tfs, rep_pen_range,
 *   rep_pen_slope, sampler_order, use_default_badwordsids, stop_sequence, min_p, ...}, models, workers}; reads `id`.
 * - polls GET /api/v2/generate/text/status/{id} without headers: gives up on `message`, `faulted` or `is_possible == false`;
 *   reads done, queue_position, processing, wait_time; once done, GETs it again and reads generations[0].text,
 *   .worker_name, .model and `kudos`. Abort: DELETE /api/v2/generate/text/status/{id} without headers.
 */
describe('KoboldAI Lite', () => {
  const app = useTestApp();
  const LITE = { 'Content-Type': 'application/json', 'Client-Agent': 'KoboldAiLite:17' };

  it('reads the cluster, the user and their workers, picks a worker, generates and reads the result', async () => {
    const key = await registerUser(app.http, 'lite-user');
    await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody(WORKER, NERYS_13B)).expect(200);
    await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody('Second box', NERYS_27B)).expect(200);

    const perf = (await app.http.get('/api/v2/status/performance').expect(200)).body;
    expect(perf).toMatchObject({ queued_text_requests: 0, text_worker_count: 2, queued_tokens: 0, past_minute_tokens: 0 });

    const models = (await app.http.get('/api/v2/status/models?type=text').expect(200)).body as { name: string; count: number }[];
    expect(models.map((m) => [m.name, m.count]).sort()).toEqual([[NERYS_27B, 1], [NERYS_13B, 1]].sort());

    const workers = (await app.http.get('/api/v2/workers?type=text').expect(200)).body as Record<string, unknown>[];
    const scribe = workers.find((w) => w.name === WORKER) as Record<string, unknown> & { id: string; models: string[]; kudos_rewards: number };
    expect(scribe).toMatchObject({ models: [NERYS_13B], trusted: false, maintenance_mode: false, info: null, threads: 1, kudos_rewards: 0, max_context_length: 1024, max_length: 80, requests_fulfilled: 0, online: true });
    expect(typeof scribe.performance).toBe('string');
    expect(typeof scribe.uptime).toBe('number');

    const user = (await app.http.get('/api/v2/find_user').set('apikey', key).expect(200)).body as { username: string; kudos: number; worker_ids: string[] };
    expect(user.username).toBe('lite-user');
    expect(user.kudos).toBe(0);
    expect(user.worker_ids).toHaveLength(2);
    for (const id of user.worker_ids) expect((await app.http.get(`/api/v2/workers/${id}`).expect(200)).body.id).toBe(id);
    await app.http.put(`/api/v2/workers/${scribe.id}`).set({ 'Content-Type': 'application/json', apikey: key }).send({ maintenance: false }).expect(200);

    // The worker picker: only the scribe's model may serve it, so the second box skips it.
    const created = await app.http
      .post('/api/v2/generate/text/async')
      .set({ ...LITE, apikey: key })
      .send({
        prompt: 'The tavern was quiet',
        params: { n: 1, max_context_length: 1024, max_length: 40, rep_pen: 1.07, temperature: 0.75, top_p: 0.92, top_k: 100, top_a: 0, typical: 1, tfs: 1, rep_pen_range: 360, rep_pen_slope: 0.7, sampler_order: [6, 0, 1, 3, 4, 2, 5], use_default_badwordsids: false, stop_sequence: ['\nYou:'], min_p: 0 },
        models: [],
        workers: [scribe.id],
      })
      .expect(202);
    const id = created.body.id as string;
    const idle = await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody('Second box', NERYS_27B)).expect(200);
    expect(idle.body.skipped.models).toBe(1);

    const polled = (await app.http.get(`/api/v2/generate/text/status/${id}`).expect(200)).body as Status;
    expect(polled.message).toBeUndefined();
    expect(polled).toMatchObject({ faulted: false, is_possible: true, done: false, queue_position: 0, processing: 0 });
    const job = await popJob(app.http, key, scribePopBody(WORKER, NERYS_13B), 1);
    expect(job.payload).toMatchObject({ stop_sequence: ['\nYou:'], sampler_order: [6, 0, 1, 3, 4, 2, 5] });
    const processing = (await app.http.get(`/api/v2/generate/text/status/${id}`).expect(200)).body as Status;
    expect(processing).toMatchObject({ processing: 1, queue_position: 0, done: false });
    await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: job.id, generation: ' until the door opened.', seed: 0 }).expect(200);

    const done = (await app.http.get(`/api/v2/generate/text/status/${id}`).expect(200)).body as Status;
    expect(done.message).toBeUndefined();
    expect(done.done).toBe(true);
    expect(done.generations[0]).toMatchObject({ text: ' until the door opened.', worker_name: WORKER, model: NERYS_13B });
    expect(done.kudos).toBe(5);
    // The user both asked and served: kudos = contributions − usage.
    await expect(app.http.get('/api/v2/find_user').set('apikey', key).then((r) => r.body.kudos)).resolves.toBe(0);
  });

  it('cancels without headers, and a request for a model nobody runs reads is_possible false (Lite and SillyTavern give up)', async () => {
    const created = await app.http.post('/api/v2/generate/text/async').set({ ...LITE, apikey: ANONYMOUS_KEY }).send({ prompt: 'x', params: { n: 2 }, models: ['nobody/runs-this'] }).expect(202);
    const status = (await app.http.get(`/api/v2/generate/text/status/${created.body.id}`).expect(200)).body as Status;
    expect(status.is_possible).toBe(false);
    expect(status.message).toBeUndefined();
    const cancelled = await app.http.delete(`/api/v2/generate/text/status/${created.body.id}`).expect(200);
    expect(cancelled.body).toMatchObject({ done: true, waiting: 0 });
  });

  it('manages its workers as Lite\'s form does: maintenance with a note (no job meanwhile), back, note cleared, then deleted', async () => {
    const key = await registerUser(app.http, 'owner');
    const form = { 'Content-Type': 'application/json', apikey: key };
    await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody(WORKER, NERYS_13B)).expect(200);
    const [id] = (await app.http.get('/api/v2/find_user').set('apikey', key).expect(200)).body.worker_ids as string[];

    // Checkbox ticked and a description typed: {maintenance: true, info}.
    const note = 'Swapping the GPU, back at 9';
    await app.http.put(`/api/v2/workers/${id}`).set(form).send({ maintenance: true, info: `  ${note} `.trim() }).expect(200, { maintenance: true, info: note });
    const listed = (await app.http.get('/api/v2/workers?type=text').expect(200)).body as Record<string, unknown>[];
    expect(listed.find((w) => w.id === id)).toMatchObject({ name: WORKER, maintenance_mode: true, info: note, online: true });
    expect((await app.http.get(`/api/v2/workers/${id}`).expect(200)).body).toMatchObject({ maintenance_mode: true, info: note });

    // In maintenance its pops get no job (the AI Horde's 403 WorkerMaintenance), and a request only it could serve is not possible.
    const created = await app.http.post('/api/v2/generate/text/async').set({ ...LITE, apikey: ANONYMOUS_KEY }).send({ prompt: 'The tavern', params: { n: 1, max_length: 40 }, models: [NERYS_13B] }).expect(202);
    const refused = await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody(WORKER, NERYS_13B)).expect(403);
    expect(refused.body.message).toBe('This worker has been put into maintenance mode by its owner');
    expect((await app.http.get(`/api/v2/generate/text/status/${created.body.id}`).expect(200)).body).toMatchObject({ is_possible: false, waiting: 1, processing: 0 });
    expect((await app.http.get(`/api/v2/workers/${id}`).expect(200)).body.online).toBe(true);

    // Checkbox unticked, description kept: {maintenance: false, info}; the worker takes the job again.
    await app.http.put(`/api/v2/workers/${id}`).set(form).send({ maintenance: false, info: note }).expect(200, { maintenance: false, info: note });
    const job = await popJob(app.http, key, scribePopBody(WORKER, NERYS_13B), 1);
    await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: job.id, generation: TEXT }).expect(200);
    // Description emptied: {maintenance: false, info: ""} clears it.
    await app.http.put(`/api/v2/workers/${id}`).set(form).send({ maintenance: false, info: '' }).expect(200, { maintenance: false, info: '' });
    expect((await app.http.get(`/api/v2/workers/${id}`).expect(200)).body).toMatchObject({ maintenance_mode: false, info: null, requests_fulfilled: 1 });

    // Delete: the Horde's answer; the worker is gone, its name free, and what it earned stays its owner's.
    await app.http.delete(`/api/v2/workers/${id}`).set(form).expect(200, { deleted_id: id, deleted_name: WORKER });
    await app.http.get(`/api/v2/workers/${id}`).expect(404);
    const user = (await app.http.get('/api/v2/find_user').set('apikey', key).expect(200)).body as { worker_ids: string[]; records: { contribution: { tokens: number } } };
    expect(user.worker_ids).toEqual([]);
    expect(user.records.contribution.tokens).toBeGreaterThan(0);
    const newcomer = await registerUser(app.http, 'newcomer');
    await app.http.post('/api/v2/generate/text/pop').set('apikey', newcomer).send(scribePopBody(WORKER, NERYS_13B)).expect(200);
    const reborn = (await app.http.get('/api/v2/workers').expect(200)).body as { id: string; name: string }[];
    expect(reborn).toHaveLength(1);
    expect(reborn[0].name).toBe(WORKER);
    expect(reborn[0].id).not.toBe(id);
  });

  it('lets only the owner\'s key change or delete a worker: 404 unknown worker, 401 unknown key, 403 another user or anonymous; 400 bad changes', async () => {
    const key = await registerUser(app.http, 'owner');
    const other = await registerUser(app.http, 'other');
    await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody(WORKER, NERYS_13B)).expect(200);
    const id = (await app.http.get('/api/v2/workers').expect(200)).body[0].id as string;
    for (const [apikey, status] of [[other, 403], [ANONYMOUS_KEY, 403], ['wrong', 401]] as const) {
      const put = await app.http.put(`/api/v2/workers/${id}`).set('apikey', apikey).send({ maintenance: true, info: 'mine now' }).expect(status);
      expect(put.body).toMatchObject({ statusCode: status, message: expect.any(String) });
      await app.http.delete(`/api/v2/workers/${id}`).set('apikey', apikey).expect(status);
    }
    await app.http.put(`/api/v2/workers/${id}`).send({ maintenance: true }).expect(403);
    await app.http.delete(`/api/v2/workers/${id}`).expect(403);
    for (const apikey of [key, 'wrong']) {
      await app.http.put('/api/v2/workers/00000000-0000-0000-0000-000000000000').set('apikey', apikey).send({ maintenance: false }).expect(404);
      await app.http.delete('/api/v2/workers/00000000-0000-0000-0000-000000000000').set('apikey', apikey).expect(404);
    }
    const empty = await app.http.put(`/api/v2/workers/${id}`).set('apikey', key).send({}).expect(400);
    expect(empty.body.message).toMatch(/No worker modification selected/);
    const long = await app.http.put(`/api/v2/workers/${id}`).set('apikey', key).send({ info: 'x'.repeat(1001) }).expect(400);
    expect(long.body.message).toMatch(/info must be shorter than or equal to 1000 characters/);
    await app.http.put(`/api/v2/workers/${id}`).set('apikey', key).send({ maintenance: 'yes' }).expect(400);
    await app.http.put(`/api/v2/workers/${id}`).set('apikey', key).send({ info: 'x'.repeat(1000) }).expect(200);
    // Nothing the refused calls sent was kept.
    expect((await app.http.get(`/api/v2/workers/${id}`).expect(200)).body).toMatchObject({ name: WORKER, maintenance_mode: false, info: 'x'.repeat(1000) });
  });

  it('puts a v1 bridge of the same username in maintenance too: its pops answer id null (the 2022 bridge keeps polling) until it is back', async () => {
    const key = await registerUser(app.http, 'bridge-owner');
    const bridge = popBody('v1 box', { username: 'bridge-owner' });
    await app.http.post('/generate/pop').send(bridge).expect(200);
    const id = (await app.http.get('/api/v2/find_user').set('apikey', key).expect(200)).body.worker_ids[0] as string;
    await app.http.put(`/api/v2/workers/${id}`).set('apikey', key).send({ maintenance: true }).expect(200, { maintenance: true });
    const created = await app.http.post('/generate/async').send({ prompt: 'x', params: { max_length: 16, n: 1 }, username: 'db0' }).expect(200);
    await app.http.post('/generate/pop').send(bridge).expect(200, { id: null, skipped: { model: 0, max_content_length: 0, max_length: 0 } });
    // Nobody else can serve it: the v1 status says why, and a sync request is refused at once.
    expect((await app.http.get(`/generate/prompt/${created.body.id}`).expect(200)).body).toMatchObject({ is_possible: false, impossible_reason: '1 active server(s) are in maintenance', waiting: 1 });
    const sync = await app.http.post('/generate/sync').send({ prompt: 'y', params: { max_length: 16, n: 1 }, username: 'db0' }).expect(503);
    expect(sync.body.message).toBe('No active server can serve this request: 1 active server(s) are in maintenance');
    await app.http.post('/generate/pop').send(popBody('other box', { max_length: 8 })).expect(200);
    expect((await app.http.get(`/generate/prompt/${created.body.id}`).expect(200)).body.impossible_reason).toBe(
      'of 1 active server(s) not in maintenance, none generates 16 tokens; 1 active server(s) are in maintenance',
    );
    await app.http.put(`/api/v2/workers/${id}`).set('apikey', key).send({ maintenance: false }).expect(200, { maintenance: false });
    const popped = await app.http.post('/generate/pop').send(bridge).expect(200);
    expect(popped.body.id).toEqual(expect.any(String));
  });
});

/*
 * SillyTavern (SillyTavern/SillyTavern src/endpoints/horde.js, the server side; public/scripts/horde.js, the page):
 * - text-workers: GET /api/v2/workers?type=text with `Client-Agent`; the page reads each worker's models (.includes),
 *   cluster (compared with the model's), trusted, max_context_length, max_length.
 * - text-models: GET /api/v2/status/models?type=text with `Client-Agent`; reads name, eta, performance, queued, count, cluster.
 * - status: GET /api/v2/status/heartbeat with `Client-Agent`; reads only `ok`.
 * - generate-text: POST /api/v2/generate/text/async with Content-Type, `apikey` (0000000000 without a key) and
 *   `Client-Agent`; body {prompt, params: {..., n: 1, frmtadsnsp, frmtrmblln, frmtrmspch, frmttriminc: false}, trusted_workers,
 *   models}; a non-ok answer's text becomes the error; reads `id`.
 * - task-status: GET /api/v2/generate/text/status/{id} with `Client-Agent`; reads faulted, is_possible, done,
 *   generations[0].text, .worker_name, .model, queue_position.
 * - cancel-task: DELETE /api/v2/generate/text/status/{id} with `Client-Agent`; reads the JSON.
 */
describe('SillyTavern', () => {
  const app = useTestApp();
  const ST = { 'Client-Agent': 'SillyTavern:1.12.6:Cohee#1207' };

  it('reads workers, models and heartbeat, generates with n = 1 and reads the first generation', async () => {
    const key = await registerUser(app.http, 'db0');
    await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send(scribePopBody(WORKER, NERYS_13B, { max_context_length: 2048, max_length: 120 })).expect(200);

    expect((await app.http.get('/api/v2/status/heartbeat').set(ST)).ok).toBe(true);
    const workers = (await app.http.get('/api/v2/workers?type=text').set(ST).expect(200)).body as Record<string, unknown>[];
    const models = (await app.http.get('/api/v2/status/models?type=text').set(ST).expect(200)).body as Record<string, unknown>[];
    expect(models).toEqual([{ name: NERYS_13B, count: 1, performance: 0, queued: 0, jobs: 0, eta: 0, type: 'text' }]);
    // adjustHordeGenerationParams: workers of the selected model, same cluster field (absent on both sides).
    const available = workers.filter((worker) => models[0].cluster === worker.cluster && (worker.models as string[]).includes(NERYS_13B));
    expect(available.map((w) => [w.trusted, w.max_context_length, w.max_length])).toEqual([[false, 2048, 120]]);

    const created = await app.http
      .post('/api/v2/generate/text/async')
      .set({ 'Content-Type': 'application/json', apikey: ANONYMOUS_KEY, ...ST })
      .send({ prompt: '{{char}}: Hello', params: { max_length: 100, max_context_length: 2048, temperature: 1, n: 1, frmtadsnsp: false, frmtrmblln: false, frmtrmspch: false, frmttriminc: false }, trusted_workers: false, models: [NERYS_13B] })
      .expect(202);
    const first = (await app.http.get(`/api/v2/generate/text/status/${created.body.id}`).set(ST).expect(200)).body as Status;
    expect(first).toMatchObject({ faulted: false, is_possible: true, done: false, queue_position: 0 });

    const job = await popJob(app.http, key, scribePopBody(WORKER, NERYS_13B, { max_context_length: 2048, max_length: 120 }), 1);
    await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: job.id, generation: ' Hi there!', seed: 0 }).expect(200);
    const done = (await app.http.get(`/api/v2/generate/text/status/${created.body.id}`).set(ST).expect(200)).body as Status;
    expect(done.done && Array.isArray(done.generations) && done.generations.length).toBe(1);
    expect(done.generations[0]).toMatchObject({ text: ' Hi there!', worker_name: WORKER, model: NERYS_13B });

    const cancelled = await app.http.delete(`/api/v2/generate/text/status/${created.body.id}`).set(ST).expect(200);
    expect(cancelled.body.done).toBe(true);
  });
});

describe('v2 errors: one body shape with a message, and the status codes the clients handle', () => {
  const app = useTestApp({ MAX_WAITING_REQUESTS_PER_USER: 1 });

  it('401 for a key nobody holds, on every route that reads one', async () => {
    for (const [method, path] of [
      ['post', '/api/v2/generate/text/async'],
      ['post', '/api/v2/generate/text/submit'],
      ['get', '/api/v2/find_user'],
    ] as const) {
      const answer = await app.http[method](path).set('apikey', 'AAAAAAAAAAAAAAAAAAAAAA').send(method === 'post' ? { prompt: 'x', id: 'x', generation: 'x' } : undefined);
      expect([path, answer.status, answer.body.statusCode, answer.body.message]).toEqual([path, 401, 401, expect.stringMatching(/No user holds this API key/)]);
    }
  });

  it('404 for an unknown request id, on status and cancel', async () => {
    for (const answer of [await app.http.get('/api/v2/generate/text/status/nope'), await app.http.delete('/api/v2/generate/text/status/nope')]) {
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual({ statusCode: 404, error: 'Not Found', message: expect.stringMatching(/No request with id "nope"/) });
    }
    await app.http.get('/api/v2/workers/nope').expect(404);
  });

  it('429 with a message for too many unfinished requests of one user', async () => {
    const key = await registerUser(app.http, 'greedy');
    await app.http.post('/api/v2/generate/text/async').set('apikey', key).send({ prompt: 'one' }).expect(202);
    const second = await app.http.post('/api/v2/generate/text/async').set('apikey', key).send({ prompt: 'two' }).expect(429);
    expect(second.body.message).toMatch(/greedy already has 1 unfinished requests/);
  });

  it('400 naming the field for malformed bodies; 400 for a submit without text', async () => {
    const key = await registerUser(app.http, 'worker');
    const noModels = await app.http.post('/api/v2/generate/text/pop').set('apikey', key).send({ name: 'w', models: [] }).expect(400);
    expect(noModels.body.message).toMatch(/models should not be empty/);
    const badParams = await app.http.post('/api/v2/generate/text/async').send({ prompt: 'x', params: { n: 'two' } }).expect(400);
    expect(badParams.body.message).toMatch(/params\.n must be an integer/);
    await app.http.post('/api/v2/generate/text/async').send({ prompt: 'x' }).expect(202);
    const job = await popJob(app.http, key, scribePopBody('w', NERYS_13B), 1);
    const noText = await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: job.id }).expect(400);
    expect(noText.body.message).toBe('generation must be a string unless state is "faulted"');
    const nullText = await app.http.post('/api/v2/generate/text/submit').set('apikey', key).send({ id: job.id, generation: null }).expect(400);
    expect(nullText.body.message).toBe('generation must be a string unless state is "faulted"');
  });

  it('403 when a worker submits a job another key\'s worker popped, or takes a name held by a v1 bridge', async () => {
    const mine = await registerUser(app.http, 'mine');
    const theirs = await registerUser(app.http, 'theirs');
    await app.http.post('/api/v2/generate/text/async').send({ prompt: 'x' }).expect(202);
    const job = await popJob(app.http, mine, scribePopBody('mine-box', NERYS_13B), 1);
    const stolen = await app.http.post('/api/v2/generate/text/submit').set('apikey', theirs).send({ id: job.id, generation: 'mine now' }).expect(403);
    expect(stolen.body.message).toMatch(/popped by another worker/);

    await app.http.post('/generate/pop').send({ username: 'v1', password: 'v1-password', name: 'Taken name', model: NERYS_13B }).expect(200);
    const taken = await app.http.post('/api/v2/generate/text/pop').set('apikey', mine).send(scribePopBody('Taken name', NERYS_13B)).expect(403);
    expect(taken.body.message).toMatch(/The worker name "Taken name" is taken by another worker/);
  });
});

describe('Accounts: POST /users', () => {
  const app = useTestApp();

  it('answers the key once (201), 409 for a registered name, keys work at once and are told apart', async () => {
    const answer = await app.http.post('/users').send({ username: 'db0' }).expect(201);
    expect(answer.body).toEqual({ username: 'db0', api_key: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) });
    const taken = await app.http.post('/users').send({ username: 'db0' }).expect(409);
    expect(taken.body).toEqual({ statusCode: 409, error: 'Conflict', message: 'The username "db0" is already registered' });
    await app.http.post('/users').send({ username: 'Anonymous' }).expect(409);
    const other = await registerUser(app.http, 'henk');
    await expect(app.http.get('/api/v2/find_user').set('apikey', answer.body.api_key).then((r) => r.body.username)).resolves.toBe('db0');
    await expect(app.http.get('/api/v2/find_user').set('apikey', other).then((r) => r.body.username)).resolves.toBe('henk');
    await expect(app.http.get('/api/v2/find_user').set('apikey', ANONYMOUS_KEY).then((r) => r.body.username)).resolves.toBe('Anonymous');
    await expect(app.http.get('/api/v2/find_user').then((r) => r.body.username)).resolves.toBe('Anonymous');
    const bad = await app.http.post('/users').send({ username: 'db0\u202E' }).expect(400);
    expect(bad.body.message).toMatch(/username must not contain/);
  });

  it('keeps the v1 API as it was: a registered username is still a claim anybody may make there', async () => {
    await registerUser(app.http, 'db0');
    await app.http.post('/generate/prompt').send({ prompt: 'x', username: 'db0' }).expect(200);
    await expect(app.http.get('/users/db0').then((r) => r.body.waiting_requests)).resolves.toBe(1);
  });
});

describe('Accounts: registration closed', () => {
  const app = useTestApp({ ACCOUNT_REGISTRATION: 'closed' });

  it('answers 403 with the setting\'s name', async () => {
    const answer = await app.http.post('/users').send({ username: 'db0' }).expect(403);
    expect(answer.body.message).toBe('Registration is closed on this cluster (ACCOUNT_REGISTRATION=closed)');
  });
});

describe('CORS and Swagger for the v2 API', () => {
  const app = useTestApp({}, 'all');

  it('answers the preflight of a browser client sending apikey and Client-Agent', async () => {
    const preflight = await app.http
      .options('/api/v2/generate/text/async')
      .set({ Origin: 'https://lite.koboldai.net', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'apikey,client-agent,content-type' })
      .expect(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(preflight.headers['access-control-allow-headers'].toLowerCase().split(',')).toEqual(expect.arrayContaining(['apikey', 'client-agent', 'content-type']));
    expect(preflight.headers['access-control-allow-methods']).toMatch(/DELETE/);
    const get = await app.http.get('/api/v2/status/heartbeat').set('Origin', 'https://lite.koboldai.net').expect(200);
    expect(get.headers['access-control-allow-origin']).toBe('*');
  });

  it('documents every /api/v2 route under its own tag', async () => {
    const doc = (await app.http.get('/api-json').expect(200)).body as { paths: Record<string, Record<string, { tags: string[] }>> };
    const v2 = Object.entries(doc.paths).filter(([path]) => path.startsWith('/api/v2/'));
    expect(v2.map(([path]) => path).sort()).toEqual(
      [
        '/api/v2/find_user',
        '/api/v2/generate/text/async',
        '/api/v2/generate/text/pop',
        '/api/v2/generate/text/status/{id}',
        '/api/v2/generate/text/submit',
        '/api/v2/status/heartbeat',
        '/api/v2/status/models',
        '/api/v2/status/performance',
        '/api/v2/workers',
        '/api/v2/workers/{id}',
      ].sort(),
    );
    for (const [, operations] of v2) for (const operation of Object.values(operations)) expect(operation.tags).toEqual(['AI Horde v2 (text)']);
    expect(doc.paths['/users'].post).toBeDefined();
    expect(Object.keys(doc.paths['/api/v2/workers/{id}']).sort()).toEqual(['delete', 'get', 'put']);
  });
});

export type { HordeJob };
