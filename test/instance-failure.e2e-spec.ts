/**
 * Issue 13: nothing is lost when an instance dies. Real `node dist/main.js` processes on one private
 * redis-server: `kill -9` of an instance while workers hold jobs popped through it, whose submits then go
 * through another instance; and every instance killed and started again on the same Redis, with requests
 * still waiting.
 */
import { countTokens } from '../src/generation/domain/token-counter';
import { ClusterInstance, expectStatus, sum, workerPop } from './support/instances';
import { TestRedisServer } from './support/redis-server';

jest.setTimeout(120_000);

const ENV = { MAX_WAITING_REQUESTS_PER_USER: '1000' };

describe('Instance failure on one Redis (e2e, built server)', () => {
  let redis: TestRedisServer;
  const running: ClusterInstance[] = [];

  const start = async (...labels: string[]): Promise<ClusterInstance[]> => {
    const started = await Promise.all(labels.map((label) => ClusterInstance.start(label, { REDIS_URL: redis.socketUrl, ...ENV })));
    running.push(...started);
    return started;
  };
  const kill = async (instance: ClusterInstance): Promise<void> => {
    running.splice(running.indexOf(instance), 1);
    await instance.kill();
  };

  beforeAll(async () => {
    redis = await TestRedisServer.start();
  });
  beforeEach(() => {
    redis.cli('FLUSHALL');
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((instance) => instance.kill()));
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('kill -9 of the instance that handed out jobs: their submits through another are accepted, every request finishes, nothing is credited twice', async () => {
    const [a, b, c] = await start('A', 'B', 'C');
    const requests: { id: string; n: number; username: string }[] = [];
    for (let i = 0; i < 30; i += 1) {
      const username = `user-${i % 3}`;
      const created = expectStatus(await a.request('POST', '/generate/prompt', { prompt: `request ${i}`, params: { max_length: 16, n: 2 }, username }), 200, `create ${i}`);
      requests.push({ id: created.json.id as string, n: 2, username });
    }
    const userOf = new Map(requests.map((r, i) => [`request ${i}`, r.username]));

    // Four workers each hold three jobs popped through C...
    const held: { worker: string; id: string; prompt: string }[] = [];
    for (let w = 0; w < 4; w += 1) {
      for (let j = 0; j < 3; j += 1) {
        const job = expectStatus(await c.request('POST', '/generate/pop', workerPop(`worker-${w}`)), 200, 'pop on C').json;
        expect(job.id).toEqual(expect.any(String));
        held.push({ worker: `worker-${w}`, id: job.id, prompt: job.payload.prompt });
      }
    }
    // ...when C is killed.
    await kill(c);
    expect((await c.process.exited).signal).toBe('SIGKILL');

    const usage: Record<string, number> = {};
    const contributions: Record<string, number> = {};
    const credit = (worker: string, prompt: string, reward: number): void => {
      const user = userOf.get(prompt) ?? 'unknown';
      usage[user] = (usage[user] ?? 0) + reward;
      contributions[`${worker}-owner`] = (contributions[`${worker}-owner`] ?? 0) + reward;
    };
    for (const [k, job] of held.entries()) {
      const via = k % 2 === 0 ? a : b;
      const text = ` held job ${k}`;
      const answer = expectStatus(await via.request('POST', '/generate/submit', { id: job.id, password: `${job.worker}-password`, generation: text }), 200, 'submit of a job popped through the killed C');
      expect(answer.json).toEqual({ reward: countTokens(text) });
      credit(job.worker, job.prompt, answer.json.reward);
    }
    // A second submit of the same jobs, through either survivor, is refused and credits nothing.
    for (const [k, job] of held.entries()) {
      const again = await (k % 2 === 0 ? b : a).request('POST', '/generate/submit', { id: job.id, password: `${job.worker}-password`, generation: ' again' });
      expect([400, 404]).toContain(again.status);
    }

    // The rest is served through the survivors.
    for (let k = 0; ; k += 1) {
      const worker = `worker-${k % 4}`;
      const job = expectStatus(await (k % 2 === 0 ? b : a).request('POST', '/generate/pop', workerPop(worker)), 200, 'pop').json;
      if (!job.id) break;
      const text = ` rest ${k}`;
      const answer = expectStatus(await (k % 2 === 0 ? a : b).request('POST', '/generate/submit', { id: job.id, password: `${worker}-password`, generation: text }), 200, 'submit');
      credit(worker, job.payload.prompt, answer.json.reward);
    }
    for (const request of requests) {
      const status = expectStatus(await b.request('GET', `/generate/prompt/${request.id}`), 200, 'status').json;
      expect(status).toMatchObject({ finished: 2, waiting: 0, processing: 0, done: true });
      expect(status.generations).toHaveLength(2);
    }
    for (const instance of [a, b]) {
      expect((await instance.request('GET', '/usage')).json).toEqual(usage);
      expect((await instance.request('GET', '/contributions')).json).toEqual(contributions);
    }
    expect(sum(Object.values(usage))).toBe(sum(Object.values(contributions)));
  });

  it('serves the requests still waiting after every instance was killed and started again on the same Redis', async () => {
    const first = await start('A', 'B');
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      ids.push(expectStatus(await first[i % 2].request('POST', '/generate/prompt', { prompt: `waiting ${i}`, params: { max_length: 16, n: 1 + (i % 2) }, username: 'patient' }), 200, 'create').json.id);
    }
    // One of them is half served before the restart.
    const job = expectStatus(await first[0].request('POST', '/generate/pop', workerPop('box')), 200, 'pop').json;
    expectStatus(await first[1].request('POST', '/generate/submit', { id: job.id, password: 'box-password', generation: ' before' }), 200, 'submit');
    for (const instance of first) await kill(instance);

    const [c, d, e] = await start('C', 'D', 'E');
    let served = 1;
    for (let k = 0; ; k += 1) {
      const popped = expectStatus(await [c, d, e][k % 3].request('POST', '/generate/pop', workerPop('box')), 200, 'pop after the restart').json;
      if (!popped.id) break;
      expectStatus(await [c, d, e][(k + 1) % 3].request('POST', '/generate/submit', { id: popped.id, password: 'box-password', generation: ' after' }), 200, 'submit after the restart');
      served += 1;
    }
    expect(served).toBe(sum(ids.map((_, i) => 1 + (i % 2))));
    for (const [i, id] of ids.entries()) {
      expect(expectStatus(await e.request('GET', `/generate/prompt/${id}`), 200, 'status after the restart').json).toMatchObject({ finished: 1 + (i % 2), done: true });
    }
    const tokens = countTokens(' before') + (served - 1) * countTokens(' after');
    expect((await d.request('GET', '/usage')).json).toEqual({ patient: tokens });
    expect((await c.request('GET', '/contributions')).json).toEqual({ 'box-owner': tokens });
  });
});
