import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { SnapshotService } from '../src/common/persistence/snapshot.service';
import { ClusterSweeper } from '../src/generation/cluster-sweeper';
import { parsePrometheusText, sampleValue, Sample } from './support/prometheus';
import { NERYS_13B, popBody, removeDataDir, startTestApp, useTestApp } from './support/test-app';

const P = 'koboldai_cluster_';

describe('Health checks (e2e)', () => {
  // DATA_DIR and its snapshots, which only the in-memory stores write: in the memory store in either mode of the
  // suite (readiness in Redis mode, with its `redis` check, is test/redis-mode.e2e-spec.ts's).
  const t = useTestApp({ SNAPSHOT_INTERVAL_SECONDS: 3600, REDIS_URL: '' });

  it('GET /health answers 200 in the @nestjs/terminus format', async () => {
    const res = await t.http.get('/health').expect(200);
    expect(res.body).toEqual({ status: 'ok', info: {}, error: {}, details: {} });
  });

  it('GET /health/ready answers 200 while the data directory can be written and the snapshots are saved', async () => {
    const res = await t.http.get('/health/ready').expect(200);
    expect(res.body).toEqual({
      status: 'ok',
      info: { data_dir: { status: 'up' }, persistence: { status: 'up' } },
      error: {},
      details: { data_dir: { status: 'up' }, persistence: { status: 'up' } },
    });
  });

  it('GET /health/ready answers 503 with the reason when the data directory cannot be written, and 200 again once it can', async () => {
    // The data directory is replaced by a file: nothing can be written there any more (even as root).
    const moved = `${t.dataDir}.moved`;
    renameSync(t.dataDir, moved);
    writeFileSync(t.dataDir, 'not a directory');
    try {
      const res = await t.http.get('/health/ready').expect(503);
      expect(res.body).toEqual({ statusCode: 503, error: 'Service Unavailable', message: `Not ready: data_dir: DATA_DIR ${t.dataDir} is not a directory` });

      // A snapshot write fails too: readiness says so, naming the store.
      await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
      t.app.get(SnapshotService).flushAll();
      const again = await t.http.get('/health/ready').expect(503);
      expect(again.body.message).toMatch(/^Not ready: data_dir: DATA_DIR .* is not a directory; persistence: the servers snapshot could not be written: /);
    } finally {
      rmSync(t.dataDir, { force: true });
      renameSync(moved, t.dataDir);
    }
    t.app.get(SnapshotService).flushAll();
    await t.http.get('/health/ready').expect(200);
  });

  it('is never rate limited', async () => {
    const limited = await startTestApp({ RATE_LIMITS: 'on', RATE_LIMIT_PER_MINUTE: 2 });
    try {
      for (let i = 0; i < 5; i++) {
        await limited.http.get('/health').expect(200);
        await limited.http.get('/health/ready').expect(200);
        await limited.http.get('/metrics').expect(200);
      }
      await limited.http.get('/models').expect(200);
      await limited.http.get('/models').expect(200);
      await limited.http.get('/models').expect(429);
    } finally {
      await limited.close();
      removeDataDir(limited.dataDir);
    }
  });
});

describe('GET /metrics (e2e)', () => {
  const t = useTestApp({ PROMPT_EXPIRY_SECONDS: 600, GENERATION_TIMEOUT_MIN_SECONDS: 120 });

  async function scrape(): Promise<Sample[]> {
    const res = await t.http.get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain;.*version=0\.0\.4/);
    return parsePrometheusText(res.text);
  }

  it('parses as Prometheus text, with the process metrics', async () => {
    const samples = await scrape();
    expect(sampleValue(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    for (const name of ['waiting_requests', 'waiting_slots', 'processing_generations', 'submits_total', 'tokens_generated_total', 'tokens_requested_total', 'requests_expired_total', 'generations_restarted_total']) {
      expect(sampleValue(samples, `${P}${name}`)).toBe(0);
    }
    expect(sampleValue(samples, `${P}pops_total`, { result: 'empty' })).toBe(0);
    expect(sampleValue(samples, `${P}request_duration_seconds_count`)).toBe(0);
  });

  it('moves its gauges and counters when requests are created, popped, submitted, restarted and expire', async () => {
    const created = await t.http.post('/generate/prompt').send({ prompt: 'p', params: { n: 2, max_length: 10 }, models: [NERYS_13B] }).expect(200);
    await t.http.post('/generate/prompt').send({ prompt: 'q', params: { n: 1, max_length: 20 } }).expect(200);
    let samples = await scrape();
    expect(sampleValue(samples, `${P}waiting_requests`)).toBe(2);
    expect(sampleValue(samples, `${P}waiting_slots`)).toBe(3);
    expect(sampleValue(samples, `${P}tokens_requested_total`)).toBe(2 * 10 + 20);
    expect(sampleValue(samples, `${P}requests_created_total`)).toBe(2);
    expect(sampleValue(samples, `${P}oldest_waiting_request_age_seconds`)).toBeGreaterThanOrEqual(0);

    const pop = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    expect(pop.body.payload.prompt).toBe('p');
    await t.http.post('/generate/pop').send(popBody('beta', { model: 'other/model' })).expect(200);
    samples = await scrape();
    expect(sampleValue(samples, `${P}waiting_slots`)).toBe(1 + 0);
    expect(sampleValue(samples, `${P}processing_generations`)).toBe(2);
    expect(sampleValue(samples, `${P}pops_total`, { result: 'served' })).toBe(2);
    expect(sampleValue(samples, `${P}active_servers`, { model: NERYS_13B })).toBe(1);
    expect(sampleValue(samples, `${P}active_servers`, { model: 'other/model' })).toBe(1);
    await t.http.post('/generate/pop').send(popBody('gamma', { model: 'nobody/asks' })).expect(200);
    samples = await scrape();
    expect(sampleValue(samples, `${P}pops_total`, { result: 'empty' })).toBe(1);

    await t.http.post('/generate/submit').send({ id: pop.body.id, password: 'alpha-password', generation: ' a few words here' }).expect(200);
    const second = await t.http.post('/generate/pop').send(popBody('alpha')).expect(200);
    await t.http.post('/generate/submit').send({ id: second.body.id, password: 'alpha-password', generation: ' done' }).expect(200);
    samples = await scrape();
    expect(sampleValue(samples, `${P}submits_total`)).toBe(2);
    expect(sampleValue(samples, `${P}tokens_generated_total`)).toBeGreaterThan(0);
    expect(sampleValue(samples, `${P}processing_generations`)).toBe(1);
    expect(sampleValue(samples, `${P}waiting_requests`)).toBe(0);
    expect(sampleValue(samples, `${P}request_duration_seconds_count`)).toBe(1);
    expect((await t.http.get(`/generate/prompt/${created.body.id}`)).body.done).toBe(true);

    // Beta's generation misses its deadline, then nobody touches the request until it expires.
    const sweeper = t.app.get(ClusterSweeper);
    await sweeper.sweep(Date.now() + 121_000);
    samples = await scrape();
    expect(sampleValue(samples, `${P}generations_restarted_total`)).toBe(1);
    expect(sampleValue(samples, `${P}waiting_slots`)).toBe(1);
    await sweeper.sweep(Date.now() + 700_000);
    samples = await scrape();
    expect(sampleValue(samples, `${P}requests_expired_total`)).toBe(1);
    expect(sampleValue(samples, `${P}waiting_requests`)).toBe(0);
    expect(sampleValue(samples, `${P}processing_generations`)).toBe(0);
  });
});
