import { Backoff, sleep } from './backoff';
import { BridgeOptions } from './bridge-options';
import { ClusterClient, ClusterFailure, SkippedCounts } from './cluster-client';
import { KoboldClient, KoboldInfo } from './kobold-client';
import { Logger } from './logger';

export interface WorkerTimings {
  /** Wait before checking an unreachable or non-KoboldAI instance again. */
  kaiRetryMs: number;
  /** First retry delay; retries double up to the options' maxBackoff. */
  initialBackoffMs: number;
  /** A job KoboldAI cannot generate for this long is dropped (the cluster expires it by then anyway). */
  giveUpGenerateMs: number;
}

const DEFAULT_TIMINGS: WorkerTimings = { kaiRetryMs: 10_000, initialBackoffMs: 500, giveUpGenerateMs: 10 * 60_000 };

type JobOutcome = 'submitted' | 'stale' | 'dropped' | 'fatal';

const seconds = (ms: number): string => (ms / 1000).toFixed(ms < 10_000 ? 1 : 0);

/**
 * The bridge loop: check KoboldAI, pop, generate, submit, repeat. Never logs prompts, generations or
 * the password. A finished generation is kept and re-submitted until the cluster accepts it or
 * answers 404; only a second signal (handled by main) can throw it away.
 */
export class BridgeWorker {
  private stopping = false;
  /** Aborted by stop(): wakes the waits that hold no job. */
  private readonly idle = new AbortController();
  private readonly timings: WorkerTimings;
  private kaiInfo: KoboldInfo | null = null;
  private clusterDown = false;
  private currentJob: string | null = null;
  private readonly popBackoff: Backoff;

  constructor(
    private readonly options: BridgeOptions,
    private readonly log: Logger,
    private readonly kai: KoboldClient,
    private readonly cluster: ClusterClient,
    timings: Partial<WorkerTimings> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.timings = { ...DEFAULT_TIMINGS, ...timings };
    this.popBackoff = this.newBackoff();
  }

  /** The id of the job being generated or submitted, if any. */
  get jobInHand(): string | null {
    return this.currentJob;
  }

  get stopRequested(): boolean {
    return this.stopping;
  }

  /** Stop popping; run() resolves once the job in hand (if any) is submitted. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.idle.abort();
  }

  /** Runs until stop() (resolves 0) or a fatal answer such as a wrong password (resolves 1). */
  async run(): Promise<number> {
    while (!this.stopping) {
      try {
        const info = await this.checkKai();
        if (!info) continue;
        const popped = await this.popOnce(info);
        if (popped === 'fatal') return 1;
        if (popped === 'retry') continue;
        if (popped.id === null) {
          this.log.verbose(`No job for us (${describeSkipped(popped.skipped)}); next poll in ${this.options.interval} s`);
          await sleep(this.options.interval * 1000, this.idle.signal);
          continue;
        }
        if ((await this.work(popped.id, popped.payload)) === 'fatal') return 1;
      } catch (error) {
        // A bug, not a fault of KoboldAI or the cluster: say so and keep serving.
        this.currentJob = null;
        const ms = this.popBackoff.next();
        this.log.error(`Unexpected error: ${(error as Error).stack ?? String(error)}; going on in ${seconds(ms)} s`);
        await sleep(ms, this.idle.signal);
      }
    }
    this.log.info('Bridge stopped');
    return 0;
  }

  /** Checks KoboldAI before each pop; null when it failed (after waiting) or a stop came. */
  private async checkKai(): Promise<KoboldInfo | null> {
    const busy = this.newBackoff();
    const result = await this.kai.check(async (what) => {
      if (this.stopping) return false;
      const ms = busy.next();
      this.log.warn(`KoboldAI is busy (503 on ${what}); retry ${busy.attempts} in ${seconds(ms)} s`);
      return sleep(ms, this.idle.signal);
    });
    if (this.stopping) return null;
    if (!result.ok) {
      this.kaiInfo = null;
      this.log.warn(`${result.message}; checking again in ${seconds(this.timings.kaiRetryMs)} s`);
      await sleep(this.timings.kaiRetryMs, this.idle.signal);
      return null;
    }
    const info = result.value;
    const previous = this.kaiInfo;
    this.kaiInfo = info;
    if (!previous) this.banner(info);
    else if (previous.model !== info.model || previous.maxLength !== info.maxLength || previous.maxContentLength !== info.maxContentLength) {
      this.log.info(`KoboldAI changed: now ${describeInfo(info)}`);
    }
    return info;
  }

  private banner(info: KoboldInfo): void {
    const o = this.options;
    const priority = o.priorityUsernames.length > 0 ? `; priority users: ${o.priorityUsernames.join(', ')}` : '';
    this.log.info(
      `Serving "${o.kaiName}" for user ${o.username}: ${describeInfo(info)}, KoboldAI at ${o.kaiUrl}, cluster at ${o.clusterUrl}; ` +
        `polling every ${o.interval} s${priority}`,
    );
  }

  private async popOnce(info: KoboldInfo): Promise<{ id: string; payload: Record<string, unknown> } | { id: null; skipped: SkippedCounts } | 'retry' | 'fatal'> {
    const o = this.options;
    const result = await this.cluster.pop({
      username: o.username,
      password: o.password,
      name: o.kaiName,
      model: info.model,
      max_length: info.maxLength,
      max_content_length: info.maxContentLength,
      priority_usernames: o.priorityUsernames,
    });
    if (result.ok) {
      this.popBackoff.reset();
      if (this.clusterDown) this.log.info(`The cluster at ${o.clusterUrl} answers again`);
      this.clusterDown = false;
      return result.value;
    }
    if (isUnauthorized(result)) {
      this.passwordMismatch();
      return 'fatal';
    }
    this.clusterDown = true;
    const ms = Math.max(this.popBackoff.next(), result.kind === 'http' ? (result.retryAfterMs ?? 0) : 0);
    const what = result.kind === 'http' ? `the cluster answered ${result.status} to the pop: ${result.message}` : result.message;
    const log = result.kind === 'http' && result.status === 400 ? this.log.error : this.log.warn;
    log(`${what}; retry ${this.popBackoff.attempts} in ${seconds(ms)} s`);
    await sleep(ms, this.idle.signal);
    return 'retry';
  }

  private async work(id: string, payload: Record<string, unknown>): Promise<JobOutcome> {
    this.currentJob = id;
    try {
      this.log.verbose(`Job ${id}: generating`);
      const started = this.now();
      const text = await this.generate(id, payload, started);
      if (text === null) return 'dropped';
      return await this.submit(id, text, this.now() - started);
    } finally {
      this.currentJob = null;
    }
  }

  /** Generates on KoboldAI, retrying with back-off; null when the job has to be dropped. */
  private async generate(id: string, payload: Record<string, unknown>, started: number): Promise<string | null> {
    const backoff = this.newBackoff();
    for (;;) {
      const result = await this.kai.generate(payload);
      if (result.ok) return result.value;
      if (result.kind === 'rejected') {
        this.log.error(`Job ${id} dropped: ${result.message}`);
        return null;
      }
      if (this.now() - started > this.timings.giveUpGenerateMs) {
        this.log.error(`Job ${id} dropped: KoboldAI could not generate it for ${seconds(this.now() - started)} s (last: ${result.message})`);
        return null;
      }
      const ms = backoff.next();
      this.log.warn(`Job ${id}: ${result.message}; retry ${backoff.attempts} in ${seconds(ms)} s`);
      await sleep(ms); // not interruptible by the first signal: the job is in hand
    }
  }

  /** Submits until the cluster accepts it or answers that it is gone; never drops it while the cluster is down. */
  private async submit(id: string, text: string, generateMs: number): Promise<JobOutcome> {
    const backoff = this.newBackoff();
    for (;;) {
      const result = await this.cluster.submit(id, this.options.password, text);
      if (result.ok) {
        if (this.clusterDown) this.log.info(`The cluster at ${this.options.clusterUrl} answers again`);
        this.clusterDown = false;
        const tokens = result.value.reward;
        const tps = generateMs > 0 ? (tokens * 1000) / generateMs : 0;
        const cancelled = result.value.cancelled ? ' (its request was cancelled meanwhile)' : '';
        this.log.info(`Job ${id}: ${tokens} tokens in ${(generateMs / 1000).toFixed(2)} s (${tps.toFixed(1)} tokens/s)${cancelled}`);
        return 'submitted';
      }
      if (result.kind === 'http' && result.status === 404) {
        this.log.warn(`Job ${id} went stale: the cluster no longer knows it (${result.message}); moving on`);
        return 'stale';
      }
      if (isUnauthorized(result)) {
        this.passwordMismatch();
        return 'fatal';
      }
      if (result.kind === 'http' && result.status === 400) {
        if (/already submitted/i.test(result.message)) {
          this.log.info(`Job ${id}: already submitted (an earlier try got through)`);
          return 'submitted';
        }
        this.log.error(`Job ${id} dropped: the cluster refused the submit (400: ${result.message})`);
        return 'dropped';
      }
      this.clusterDown = true;
      const ms = Math.max(backoff.next(), result.kind === 'http' ? (result.retryAfterMs ?? 0) : 0);
      const what = result.kind === 'http' ? `the cluster answered ${result.status}: ${result.message}` : result.message;
      this.log.warn(`Job ${id}: submit failed, ${what}; keeping the generation, retry ${backoff.attempts} in ${seconds(ms)} s`);
      await sleep(ms); // not interruptible by the first signal: the job is in hand
    }
  }

  private passwordMismatch(): void {
    this.log.error(
      `The cluster refused the password for server "${this.options.kaiName}": that name is registered with another password. ` +
        'Give the password it was first used with, or pick another --kai-name.',
    );
  }

  private newBackoff(): Backoff {
    return new Backoff({ initialMs: Math.min(this.timings.initialBackoffMs, this.options.maxBackoff * 1000), maxMs: this.options.maxBackoff * 1000 });
  }
}

function isUnauthorized(result: ClusterFailure): boolean {
  return result.kind === 'http' && result.status === 401;
}

function describeInfo(info: KoboldInfo): string {
  return `model ${info.model}, max_length ${info.maxLength}, max_content_length ${info.maxContentLength}`;
}

function describeSkipped(skipped: SkippedCounts): string {
  const parts = Object.entries(skipped)
    .filter(([, count]) => typeof count === 'number')
    .map(([reason, count]) => `${count} skipped for ${reason}`);
  return parts.length > 0 ? parts.join(', ') : 'nothing waiting';
}
