import { BridgeOptions } from './bridge-options';
import { BridgeWorker } from './bridge-worker';
import { ClusterClient, ClusterResult, PopAnswer, SubmitAnswer } from './cluster-client';
import { KaiResult, KoboldClient, KoboldInfo } from './kobold-client';
import { Logger } from './logger';

const OPTIONS: BridgeOptions = {
  username: 'alice',
  password: 'never-log-this-password',
  kaiName: 'Alice Box',
  kaiUrl: 'http://kai',
  clusterUrl: 'http://cluster',
  interval: 0.001,
  priorityUsernames: ['bob'],
  logLevel: 'verbose',
  maxBackoff: 0.01,
};
const INFO: KoboldInfo = { model: 'sim/a', maxLength: 80, maxContentLength: 1024 };
const PROMPT = 'a secret prompt';
const TEXT = ' a secret generation';
const JOB: PopAnswer = { id: 'job-1', payload: { prompt: PROMPT, n: 1, max_length: 16 } };
const EMPTY: PopAnswer = { id: null, skipped: { model: 2, max_length: 0, max_content_length: 1 } };

const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
const down = { ok: false as const, kind: 'network' as const, message: 'the cluster at http://cluster is unreachable (ECONNREFUSED)' };
const http = (status: number, message: string) => ({ ok: false as const, kind: 'http' as const, status, message });

function setup() {
  const lines: string[] = [];
  const log: Logger = {
    error: (m) => lines.push(`ERROR ${m}`),
    warn: (m) => lines.push(`WARN ${m}`),
    info: (m) => lines.push(`INFO ${m}`),
    verbose: (m) => lines.push(`DEBUG ${m}`),
  };
  const kai = {
    check: jest.fn((): Promise<KaiResult<KoboldInfo>> => Promise.resolve(ok(INFO))),
    generate: jest.fn((): Promise<KaiResult<string>> => Promise.resolve(ok(TEXT))),
  };
  const cluster = {
    pop: jest.fn((): Promise<ClusterResult<PopAnswer>> => Promise.resolve(ok(EMPTY))),
    submit: jest.fn((): Promise<ClusterResult<SubmitAnswer>> => Promise.resolve(ok({ reward: 4 }))),
  };
  const worker = new BridgeWorker(OPTIONS, log, kai as unknown as KoboldClient, cluster as unknown as ClusterClient, {
    kaiRetryMs: 5,
    initialBackoffMs: 1,
  });
  /** Makes the cluster hand out these answers in turn, then stop the worker and answer "nothing to do". */
  const pops = (...answers: ClusterResult<PopAnswer>[]): void => {
    cluster.pop.mockImplementation(() => {
      const next = answers.shift();
      if (!next) worker.stop();
      return Promise.resolve(next ?? ok(EMPTY));
    });
  };
  const expectNothingSecretLogged = (): void => {
    for (const line of lines) {
      expect(line).not.toContain(OPTIONS.password);
      expect(line).not.toContain(PROMPT);
      expect(line).not.toContain(TEXT.trim());
    }
  };
  return { lines, kai, cluster, worker, pops, expectNothingSecretLogged };
}

describe('BridgeWorker', () => {
  it('pops with the KoboldAI limits, generates, submits, and logs one line per job', async () => {
    const t = setup();
    t.pops(ok(JOB));
    await expect(t.worker.run()).resolves.toBe(0);
    expect(t.cluster.pop).toHaveBeenCalledWith({
      username: 'alice',
      password: OPTIONS.password,
      name: 'Alice Box',
      model: 'sim/a',
      max_length: 80,
      max_content_length: 1024,
      priority_usernames: ['bob'],
    });
    expect(t.kai.generate).toHaveBeenCalledWith(JOB.payload);
    expect(t.cluster.submit).toHaveBeenCalledWith('job-1', OPTIONS.password, TEXT);
    expect(t.lines.filter((l) => /^INFO Job job-1: 4 tokens in [\d.]+ s \([\d.]+ tokens\/s\)$/.test(l))).toHaveLength(1);
    expect(t.lines[0]).toMatch(/^INFO Serving "Alice Box" for user alice: model sim\/a, max_length 80, max_content_length 1024, .*cluster at http:\/\/cluster/);
    t.expectNothingSecretLogged();
  });

  it('checks KoboldAI before every pop and reports a model switch', async () => {
    const t = setup();
    t.kai.check.mockResolvedValueOnce(ok(INFO)).mockResolvedValueOnce(ok({ ...INFO, model: 'sim/b' }));
    t.pops(ok(EMPTY), ok(EMPTY));
    await t.worker.run();
    expect(t.kai.check.mock.calls.length).toBeGreaterThanOrEqual(t.cluster.pop.mock.calls.length);
    expect(t.lines).toContain('INFO KoboldAI changed: now model sim/b, max_length 80, max_content_length 1024');
    expect(t.cluster.pop).toHaveBeenNthCalledWith(2, expect.objectContaining({ model: 'sim/b' }));
    expect(t.lines).toContain('DEBUG No job for us (2 skipped for model, 0 skipped for max_length, 1 skipped for max_content_length); next poll in 0.001 s');
  });

  it('does not pop while KoboldAI is unreachable or not a KoboldAI, says why, and checks again', async () => {
    const t = setup();
    t.kai.check
      .mockResolvedValueOnce({ ok: false, kind: 'unreachable', message: 'KoboldAI at http://kai is unreachable (ECONNREFUSED)' })
      .mockResolvedValueOnce({ ok: false, kind: 'not-kobold', message: 'http://kai/api/latest/model answered an HTML page' });
    t.pops(ok(EMPTY));
    await t.worker.run();
    expect(t.lines.slice(0, 2)).toEqual([
      'WARN KoboldAI at http://kai is unreachable (ECONNREFUSED); checking again in 0.0 s',
      'WARN http://kai/api/latest/model answered an HTML page; checking again in 0.0 s',
    ]);
    // Two failed checks, then one before each of the two pops (the last one stops the worker).
    expect(t.kai.check).toHaveBeenCalledTimes(4);
    expect(t.cluster.pop).toHaveBeenCalledTimes(2);
  });

  it('retries a busy KoboldAI with back-off, warning each time', async () => {
    const t = setup();
    const busy = { ok: false as const, kind: 'busy' as const, message: 'KoboldAI at http://kai is busy (503)' };
    t.kai.generate.mockResolvedValueOnce(busy).mockResolvedValueOnce(busy);
    t.pops(ok(JOB));
    await t.worker.run();
    expect(t.kai.generate).toHaveBeenCalledTimes(3);
    expect(t.lines.filter((l) => l.startsWith('WARN Job job-1: KoboldAI at http://kai is busy (503); retry'))).toHaveLength(2);
    expect(t.cluster.submit).toHaveBeenCalledTimes(1);
  });

  it('drops a job KoboldAI refuses (4xx) without submitting it', async () => {
    const t = setup();
    t.kai.generate.mockResolvedValueOnce({ ok: false, kind: 'rejected', message: "KoboldAI refused the job's parameters (422)" });
    t.pops(ok(JOB));
    await t.worker.run();
    expect(t.cluster.submit).not.toHaveBeenCalled();
    expect(t.lines).toContain("ERROR Job job-1 dropped: KoboldAI refused the job's parameters (422)");
  });

  it('keeps the finished generation and retries the submit while the cluster is down or failing', async () => {
    const t = setup();
    t.cluster.submit.mockResolvedValueOnce(down).mockResolvedValueOnce(http(502, 'Bad Gateway')).mockResolvedValueOnce(http(429, 'Too Many Requests'));
    t.pops(ok(JOB));
    await expect(t.worker.run()).resolves.toBe(0);
    expect(t.cluster.submit).toHaveBeenCalledTimes(4);
    for (const call of t.cluster.submit.mock.calls as unknown[][]) expect(call).toEqual(['job-1', OPTIONS.password, TEXT]);
    expect(t.lines.filter((l) => l.startsWith('WARN Job job-1: submit failed') && l.includes('keeping the generation'))).toHaveLength(3);
    expect(t.lines.some((l) => l.startsWith('INFO Job job-1: 4 tokens'))).toBe(true);
    expect(t.kai.generate).toHaveBeenCalledTimes(1);
    t.expectNothingSecretLogged();
  });

  it('moves on when the submit answers 404 (the job went stale)', async () => {
    const t = setup();
    t.cluster.submit.mockResolvedValueOnce(http(404, 'No processing generation with id "job-1"'));
    t.pops(ok(JOB), ok({ ...JOB, id: 'job-2' }));
    await expect(t.worker.run()).resolves.toBe(0);
    expect(t.lines.some((l) => l.startsWith('WARN Job job-1 went stale'))).toBe(true);
    expect(t.cluster.submit).toHaveBeenLastCalledWith('job-2', OPTIONS.password, TEXT);
  });

  it('counts "already submitted" (a lost answer to an earlier try) as done', async () => {
    const t = setup();
    t.cluster.submit.mockResolvedValueOnce(down).mockResolvedValueOnce(http(400, 'Generation "job-1" was already submitted'));
    t.pops(ok(JOB));
    await t.worker.run();
    expect(t.lines).toContain('INFO Job job-1: already submitted (an earlier try got through)');
  });

  it.each([
    ['pop', (t: ReturnType<typeof setup>) => t.pops(http(401, 'wrong password'))],
    [
      'submit',
      (t: ReturnType<typeof setup>) => {
        t.pops(ok(JOB));
        t.cluster.submit.mockResolvedValue(http(401, 'wrong password'));
      },
    ],
  ])('stops with exit code 1 when the %s answers 401, without printing the password', async (_what, arrange) => {
    const t = setup();
    arrange(t);
    await expect(t.worker.run()).resolves.toBe(1);
    expect(t.lines.at(-1)).toMatch(/^ERROR The cluster refused the password for server "Alice Box": that name is registered with another password/);
    t.expectNothingSecretLogged();
  });

  it('retries pops with back-off while the cluster is down, and says when it answers again', async () => {
    const t = setup();
    t.pops(down, down, http(500, 'Internal server error'), ok(EMPTY));
    await t.worker.run();
    expect(t.lines.filter((l) => l.startsWith('WARN the cluster'))).toEqual([
      expect.stringMatching(/^WARN the cluster at http:\/\/cluster is unreachable \(ECONNREFUSED\); retry 1 in/),
      expect.stringMatching(/; retry 2 in/),
      expect.stringMatching(/^WARN the cluster answered 500 to the pop: Internal server error; retry 3 in/),
    ]);
    expect(t.lines).toContain('INFO The cluster at http://cluster answers again');
  });

  it('on stop during a job: finishes it, submits it, pops no more and resolves 0', async () => {
    const t = setup();
    let release!: () => void;
    t.kai.generate.mockImplementationOnce(() => new Promise((resolve) => (release = () => resolve(ok(TEXT)))));
    t.cluster.pop.mockResolvedValueOnce(ok(JOB));
    const running = t.worker.run();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(t.worker.jobInHand).toBe('job-1');
    t.worker.stop();
    release();
    await expect(running).resolves.toBe(0);
    expect(t.cluster.submit).toHaveBeenCalledTimes(1);
    expect(t.cluster.pop).toHaveBeenCalledTimes(1);
    expect(t.worker.jobInHand).toBeNull();
  });

  it('on stop while idle: resolves at once', async () => {
    const t = setup();
    const worker = new BridgeWorker({ ...OPTIONS, interval: 60 }, { error() {}, warn() {}, info() {}, verbose() {} }, t.kai as never, t.cluster as never);
    const running = worker.run();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const started = Date.now();
    worker.stop();
    await expect(running).resolves.toBe(0);
    expect(Date.now() - started).toBeLessThan(500);
  });
});
