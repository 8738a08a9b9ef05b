/** One finished job, for the server's performance figure. */
export interface ServerJob {
  tokens: number;
  seconds: number;
}

/** How many recent jobs the performance figure averages over. */
export const PERFORMANCE_WINDOW = 20;

/**
 * A KoboldAI instance that serves the cluster through a bridge. Its identity is its name plus its
 * password: stats follow the name, whichever machine the bridge runs on.
 */
export interface KoboldServer {
  id: string;
  name: string;
  /** The username credited with this server's contributions. */
  owner: string;
  /** scrypt hash; the password itself is never stored. */
  passwordHash: string;
  model: string;
  maxLength: number;
  maxContentLength: number;
  tokensGenerated: number;
  requestsFulfilled: number;
  recentJobs: ServerJob[];
  createdAt: number;
  lastSeenAt: number;
  /** Set by its owner (`PUT /api/v2/workers/{id}`): a server in maintenance is handed no jobs. */
  maintenance: boolean;
  /** Its owner's note about it, shown in the worker list; '' for none. At most MAX_SERVER_INFO_CHARS. */
  info: string;
}

/** Longest note a server's owner may give it, as the AI Horde's worker `info` (horde/classes/base/worker.py, set_info). */
export const MAX_SERVER_INFO_CHARS = 1000;

/** What a server's owner may change about it; the fields left out stay as they are. */
export interface ServerSettings {
  maintenance?: boolean;
  info?: string;
}

/** Capabilities a server announces on each pop. */
export interface ServerCapabilities {
  model: string;
  maxLength: number;
  maxContentLength: number;
}

export function isActive(server: Pick<KoboldServer, 'lastSeenAt'>, now: number, staleAfterMs: number): boolean {
  return now - server.lastSeenAt < staleAfterMs;
}

/** Adds a finished job to the server's stats. Durations below a millisecond count as a millisecond. */
export function recordJob(server: KoboldServer, job: ServerJob): void {
  server.tokensGenerated += job.tokens;
  server.requestsFulfilled += 1;
  server.recentJobs.push({ tokens: job.tokens, seconds: Math.max(job.seconds, 0.001) });
  if (server.recentJobs.length > PERFORMANCE_WINDOW) server.recentJobs.shift();
}

/**
 * A job's time in whole milliseconds, at least one: the unit of the speed figure. Whole numbers sum
 * exactly in any order, so a store can keep the sums of a server's recent jobs as jobs come and go (the
 * Redis store does, and its pop script works the speed out from them) and still agree to the last bit
 * with tokensPerSecond over the list.
 */
export function jobMilliseconds(job: ServerJob): number {
  return Math.max(Math.round(job.seconds * 1000), 1);
}

/** Tokens per second from the sums of some jobs' tokens and milliseconds (null for no time): the one formula. */
export function speedOf(tokens: number, milliseconds: number): number | null {
  return milliseconds > 0 ? (tokens * 1000) / milliseconds : null;
}

/** Tokens per second over the recent jobs, or null before the first job. Never divides by zero. */
export function tokensPerSecond(server: Pick<KoboldServer, 'recentJobs'>): number | null {
  let tokens = 0;
  let milliseconds = 0;
  for (const job of server.recentJobs) {
    tokens += job.tokens;
    milliseconds += jobMilliseconds(job);
  }
  return speedOf(tokens, milliseconds);
}

export function describePerformance(server: KoboldServer): string {
  const tps = tokensPerSecond(server);
  return tps === null ? 'no jobs yet' : `${tps.toFixed(1)} tokens per second`;
}
