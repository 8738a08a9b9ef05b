import { ClusterSweeper } from '../src/generation/cluster-sweeper';
import { countTokens } from '../src/generation/domain/token-counter';
import { popBody, removeDataDir, startTestApp, useTestApp } from './support/test-app';

const sum = (values: Record<string, number>): number => Object.values(values).reduce((a, b) => a + b, 0);

describe('Reliability (e2e)', () => {
  const t = useTestApp({ GENERATION_TIMEOUT_MIN_SECONDS: 120, MAX_WAITING_REQUESTS_PER_USER: 3 });

  const sweepAt = (msFromNow: number) => t.app.get(ClusterSweeper).sweep(Date.now() + msFromNow);

  describe('job deadline', () => {
    it('puts a generation whose server vanished back to waiting, and another server completes it', async () => {
      const { body } = await t.http.post('/generate/prompt').send({ prompt: 'p', params: { n: 1 } }).expect(200);
      const lost = await t.http.post('/generate/pop').send(popBody('vanishing')).expect(200);
      expect(lost.body.id).toEqual(expect.any(String));
      expect((await t.http.post('/generate/pop').send(popBody('healthy'))).body.id).toBeNull();

      await sweepAt(121_000);
      expect((await t.http.get(`/generate/prompt/${body.id}`)).body).toMatchObject({ waiting: 1, processing: 0, restarted: 1 });

      const redo = await t.http.post('/generate/pop').send(popBody('healthy')).expect(200);
      await t.http.post('/generate/submit').send({ id: redo.body.id, password: 'healthy-password', generation: ' redo' }).expect(200);
      expect((await t.http.get(`/generate/prompt/${body.id}`)).body).toMatchObject({ finished: 1, done: true, generations: [' redo'] });

      // The vanished server comes back too late: the slot is complete, so no credit.
      const late = await t.http.post('/generate/submit').send({ id: lost.body.id, password: 'vanishing-password', generation: ' late' }).expect(404);
      expect(late.body.message).toContain('completed its slot');
      expect(await t.http.get('/contributions').then((r) => r.body)).toEqual({ 'healthy-owner': countTokens(' redo') });
    });

    it('accepts a late submit while the slot is being redone, and the redo then gets 404 and no credit', async () => {
      const { body } = await t.http.post('/generate/prompt').send({ prompt: 'p' }).expect(200);
      const slow = await t.http.post('/generate/pop').send(popBody('slow')).expect(200);
      await sweepAt(121_000);
      const redo = await t.http.post('/generate/pop').send(popBody('fast')).expect(200);
      expect(redo.body.id).toEqual(expect.any(String));
      await t.http.post('/generate/submit').send({ id: slow.body.id, password: 'slow-password', generation: ' slow' }).expect(200);
      await t.http.post('/generate/submit').send({ id: redo.body.id, password: 'fast-password', generation: ' fast' }).expect(404);
      expect((await t.http.get(`/generate/prompt/${body.id}`)).body).toMatchObject({ finished: 1, processing: 0, done: true, generations: [' slow'] });
      expect((await t.http.get('/contributions')).body).toEqual({ 'slow-owner': countTokens(' slow') });
    });
  });

  describe('cancel', () => {
    it('answers the status with cancelled: true, drops waiting slots and still credits work in progress', async () => {
      const { body } = await t.http.post('/generate/prompt').send({ prompt: 'p', params: { n: 3 }, username: 'db0' }).expect(200);
      const first = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
      await t.http.post('/generate/submit').send({ id: first.body.id, password: 'alpha-password', generation: ' one' }).expect(200);
      const inFlight = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);

      const cancelled = await t.http.delete(`/generate/prompt/${body.id}`).expect(200);
      expect(cancelled.body).toMatchObject({ finished: 1, processing: 1, waiting: 0, restarted: 0, done: false, cancelled: true, generations: [' one'] });
      expect((await t.http.post('/generate/pop').send(popBody('beta'))).body.id).toBeNull();

      const late = await t.http.post('/generate/submit').send({ id: inFlight.body.id, password: 'alpha-password', generation: ' two' }).expect(200);
      expect(late.body).toEqual({ reward: countTokens(' two'), cancelled: true });
      expect((await t.http.get(`/generate/prompt/${body.id}`)).body).toMatchObject({ finished: 2, done: true, cancelled: true });
      expect((await t.http.get('/usage')).body).toEqual({ db0: countTokens(' one') + countTokens(' two') });
    });

    it('answers 404 for an unknown id', async () => {
      await t.http.delete('/generate/prompt/00000000-0000-4000-8000-000000000000').expect(404);
    });
  });

  describe('per-user cap', () => {
    it('answers 429 beyond MAX_WAITING_REQUESTS_PER_USER unfinished requests, and frees a place when one finishes', async () => {
      for (let i = 0; i < 3; i++) await t.http.post('/generate/prompt').send({ prompt: `p${i}`, username: 'greedy' }).expect(200);
      const refused = await t.http.post('/generate/prompt').send({ prompt: 'p3', username: 'greedy' }).expect(429);
      expect(refused.body.message).toContain('MAX_WAITING_REQUESTS_PER_USER');
      await t.http.post('/generate/prompt').send({ prompt: 'other', username: 'modest' }).expect(200);

      const pop = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
      await t.http.post('/generate/submit').send({ id: pop.body.id, password: 'alpha-password', generation: 'x' }).expect(200);
      await t.http.post('/generate/prompt').send({ prompt: 'p4', username: 'greedy' }).expect(200);
    });

    it('frees a place when a request is cancelled', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await t.http.post('/generate/prompt').send({ prompt: `p${i}`, username: 'greedy' })).body.id);
      await t.http.delete(`/generate/prompt/${ids[0]}`).expect(200);
      await t.http.post('/generate/prompt').send({ prompt: 'p3', username: 'greedy' }).expect(200);
    });
  });
});

describe('Dead workers (e2e)', () => {
  it('completes 200 requests while some workers pop and never submit: nothing lost, nothing doubled', async () => {
    const t = await startTestApp({ GENERATION_TIMEOUT_MIN_SECONDS: 30, MAX_WAITING_REQUESTS_PER_USER: 1000 });
    try {
      const sweeper = t.app.get(ClusterSweeper);
      const ids: string[] = [];
      let slots = 0;
      for (let i = 0; i < 200; i++) {
        const n = (i % 3) + 1;
        slots += n;
        const res = await t.http.post('/generate/prompt').send({ prompt: `request ${i}`, params: { n, max_length: 20 }, username: `user${i % 7}` }).expect(200);
        ids.push(res.body.id);
      }

      const rewards: number[] = [];
      const texts = new Set<string>();
      let killed = 0;
      let remaining = slots;

      const deadWorker = async (name: string): Promise<void> => {
        for (let i = 0; i < 40 && remaining > 0; i++) {
          const pop = await t.http.post('/generate/pop').send(popBody(name)).expect(200);
          if (pop.body.id) killed += 1;
        }
      };
      const goodWorker = async (name: string): Promise<void> => {
        for (let attempts = 0; remaining > 0 && attempts < 5000; attempts++) {
          const pop = await t.http.post('/generate/pop').send(popBody(name)).expect(200);
          if (pop.body.id === null) {
            // Only slots held by workers are left: sweep as if their 30 s deadline had passed. Slots of
            // live workers are put back too, so their texts arrive late while a redo may be running.
            await sweeper.sweep(Date.now() + 31_000);
            continue;
          }
          const text = ` ${name} ${pop.body.id}`;
          const res = await t.http.post('/generate/submit').send({ id: pop.body.id, password: `${name}-password`, generation: text });
          if (res.status === 200) {
            rewards.push(res.body.reward);
            texts.add(text);
            remaining -= 1;
          } else {
            expect(res.status).toBe(404);
          }
        }
      };
      await Promise.all([deadWorker('dead-1'), deadWorker('dead-2'), goodWorker('good-1'), goodWorker('good-2'), goodWorker('good-3')]);

      expect(killed).toBeGreaterThan(20);
      let generations = 0;
      for (const id of ids) {
        const status = (await t.http.get(`/generate/prompt/${id}`).expect(200)).body;
        expect(status).toMatchObject({ waiting: 0, processing: 0, done: true });
        expect(status.finished).toBe(status.generations.length);
        for (const text of status.generations) expect(texts.has(text)).toBe(true);
        generations += status.finished;
      }
      expect(generations).toBe(slots);
      expect(texts.size).toBe(slots);
      expect(rewards).toHaveLength(slots);
      const usage = sum((await t.http.get('/usage')).body);
      expect(usage).toBe(rewards.reduce((a, b) => a + b, 0));
      expect(sum((await t.http.get('/contributions')).body)).toBe(usage);
      console.log(`dead-worker test: ${ids.length} requests, ${slots} slots, ${killed} jobs killed, ${generations} generations completed`);
    } finally {
      await t.close();
      removeDataDir(t.dataDir);
    }
  }, 60_000);
});
