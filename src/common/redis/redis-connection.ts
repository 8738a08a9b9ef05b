import { Logger, OnApplicationShutdown, OnModuleInit, ServiceUnavailableException } from '@nestjs/common';
import { createHash } from 'node:crypto';
// The client is ioredis, not node-redis (Redis's own recommendation for new projects), for one reason
// measured here: a command already written to a hung or partitioned Redis (the socket stays open, no
// answer comes) fails after ioredis's `commandTimeout`, whereas node-redis 6's command timeout stops at
// the write and such a command waits for ever, holding the HTTP request. Both are maintained by Redis
// (ioredis 6.0.0 of July 2026, "best effort"), need Node ≥ 20, run Lua through EVALSHA with a NOSCRIPT
// fallback (here: RedisConnection.runScript), batch the commands of one event-loop turn into one write
// (ioredis: `enableAutoPipelining`), reconnect by themselves, can refuse commands while disconnected
// (`enableOfflineQueue: false`) instead of queueing them without bound, do pub/sub on a duplicate
// connection, and route Redis Cluster hash tags (`new Cluster(...)`, same command API). Everything
// ioredis-specific stays in this folder, so a switch would touch only it.
import Redis, { ChainableCommander, ReplyError } from 'ioredis';
import { describeRedisTarget, parseRedisUrl } from './redis-url';

/**
 * Every key of the cluster starts with this prefix. Its hash tag `{kc}` puts all keys in one Redis Cluster
 * slot, so that a Lua script may touch any of them in one atomic step on a Cluster as on one server.
 */
export const REDIS_KEY_PREFIX = '{kc}:';

/** A command without an answer within this time fails (503): a hung Redis never hangs a request. */
export const REDIS_COMMAND_TIMEOUT_MS = 1_000;
/** Establishing a connection (then retried with back-off up to REDIS_RECONNECT_MAX_DELAY_MS). */
export const REDIS_CONNECT_TIMEOUT_MS = 1_000;
export const REDIS_RECONNECT_MAX_DELAY_MS = 1_000;
/** How long the start waits for the first connection before serving anyway (503 until Redis answers). */
export const REDIS_STARTUP_WAIT_MS = 3_000;
/** The readiness check's PING. */
export const REDIS_READINESS_TIMEOUT_MS = 500;

/** Redis answered, but cannot serve now (loading, busy script, failover, out of memory): unavailable, not a bug. */
const UNAVAILABLE_REPLIES = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|OOM|NOREPLICAS|MISCONF)\b/;

const RedisReplyError = ReplyError as new (...args: unknown[]) => Error;

/** The shared store cannot be reached: the request is answered 503 (through the one exception filter). */
export class SharedStoreUnavailableException extends ServiceUnavailableException {
  constructor(cause?: unknown) {
    super('The shared store (Redis) is unreachable: try again in a moment', { cause });
  }
}

/** True when `error` means Redis is unreachable or cannot serve now; false for a reply that is a bug of ours. */
export function isRedisUnavailable(error: unknown): boolean {
  if (error instanceof SharedStoreUnavailableException) return true;
  if (error instanceof RedisReplyError) return UNAVAILABLE_REPLIES.test(error.message);
  // ioredis reports refused, closed and timed-out commands as plain Errors: the connection failed.
  return error instanceof Error;
}

/** A Lua script run atomically by Redis, through EVALSHA (EVAL when Redis does not know it: RedisConnection.runScript). */
export class LuaScript {
  /** Its SHA-1, by which EVALSHA runs it. */
  readonly sha: string;

  constructor(
    /** A name unique among the scripts (two scripts of one name are refused when run: see runScript). */
    readonly name: string,
    readonly numberOfKeys: number,
    readonly lua: string,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

/**
 * The connection to the shared store (REDIS_URL), with the timeouts that keep a Redis outage from
 * hanging requests: while Redis is unreachable every command fails at once (no offline queue) or after
 * REDIS_COMMAND_TIMEOUT_MS (a hung server), and is reported as SharedStoreUnavailableException (503);
 * the client reconnects by itself, so service resumes when Redis is back.
 */
export class RedisConnection implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisConnection.name);
  readonly client: Redis;
  readonly target: string;
  private readonly scripts = new Map<string, LuaScript>();
  /** The pub/sub connection, made on the first subscribe (a subscribed connection can run nothing else). */
  private subscriber: Redis | undefined;
  private readonly channelListeners = new Map<string, ((message: string) => void)[]>();
  private readonly subscriptions = new Map<string, Promise<void>>();
  private lastError: string | undefined;
  private outageReported = false;

  constructor(url: string) {
    const target = parseRedisUrl(url);
    this.target = describeRedisTarget(target);
    this.client = new Redis({
      ...target,
      // RESP2: the replies every Redis since 2.x gives; nothing here needs RESP3.
      protocol: 2,
      connectionName: 'koboldai-cluster',
      // Commands issued in the same turn of the event loop go out in one write: under load Redis reads
      // and answers many per system call instead of one (its CPU per pop and submit falls).
      enableAutoPipelining: true,
      connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
      enableOfflineQueue: false,
      // A command whose connection dropped fails (503) instead of being sent again after the reconnect:
      // it may have run already, and a ledger increment must never count twice.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, REDIS_RECONNECT_MAX_DELAY_MS),
    });
    this.client.on('error', (error: Error) => this.reportOutage(error.message));
    this.client.on('ready', () => this.reportRecovery());
  }

  /**
   * At start, waits (at most REDIS_STARTUP_WAIT_MS) for the connection, so that the first requests do not
   * get 503 while it is being made. Redis still unreachable then: the start goes on (logged), requests that
   * need it get 503, and service begins by itself when Redis comes.
   */
  async onModuleInit(): Promise<void> {
    if (await this.whenReady(REDIS_STARTUP_WAIT_MS)) this.logger.log(`Connected to the shared store (Redis) at ${this.target}`);
    else this.reportOutage(this.lastError ?? `no connection within ${REDIS_STARTUP_WAIT_MS} ms`);
  }

  /** Resolves true once the connection is ready, or false after `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ready: boolean): void => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        resolve(ready);
      };
      const onReady = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.client.on('ready', onReady);
    });
  }

  /** A key of the cluster: the prefix with its hash tag, then `parts` joined by `:`. */
  key(...parts: string[]): string {
    return REDIS_KEY_PREFIX + parts.join(':');
  }

  /**
   * Runs one Redis operation; an outage becomes SharedStoreUnavailableException (503). A Redis error
   * reply that is not about availability (wrong type, script error) is a bug and is rethrown as is.
   */
  async run<T>(operation: (client: Redis) => Promise<T>): Promise<T> {
    try {
      const result = await operation(this.client);
      // A hung Redis that answers again emits no 'ready' (the connection never dropped).
      if (this.outageReported) this.reportRecovery();
      return result;
    } catch (error) {
      if (!isRedisUnavailable(error)) throw error;
      this.reportOutage((error as Error).message);
      throw error instanceof SharedStoreUnavailableException ? error : new SharedStoreUnavailableException(error);
    }
  }

  /** Runs the commands `build` queues as one MULTI/EXEC transaction (atomic, one round trip); their replies in order. */
  async transaction(build: (multi: ChainableCommander) => ChainableCommander): Promise<unknown[]> {
    const results = await this.run((client) => build(client.multi()).exec());
    if (!results) throw new Error('Redis transaction aborted');
    return results.map(([error, reply]) => {
      if (error) throw error;
      return reply;
    });
  }

  /** Runs `script` (one atomic step in Redis) with its keys and arguments. */
  runScript(script: LuaScript, keys: string[], args: (string | number)[] = []): Promise<unknown> {
    if (keys.length !== script.numberOfKeys) throw new Error(`Script ${script.name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
    return this.run(() => this.evalScript(script, [...keys, ...args]));
  }

  /**
   * Calls `onMessage` with every message published on `channel` (PUBLISH, from anywhere, scripts too),
   * received on a second, dedicated connection. Resolves once the subscription is in place. That
   * connection waits for Redis (no command timeout, its SUBSCRIBE queued until connected) and subscribes
   * again after a reconnect; messages published while it is disconnected are lost (pub/sub keeps none),
   * so a listener that must not miss one also re-reads on a timer. Closed with this connection.
   */
  async subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    if (!this.subscriber) {
      const subscriber = this.client.duplicate({
        connectionName: 'koboldai-cluster-subscriber',
        enableOfflineQueue: true,
        commandTimeout: undefined,
        maxRetriesPerRequest: null,
        autoResubscribe: true,
      });
      subscriber.on('error', (error: Error) => this.reportOutage(error.message));
      subscriber.on('message', (received: string, message: string) => {
        for (const listener of this.channelListeners.get(received) ?? []) listener(message);
      });
      this.subscriber = subscriber;
    }
    const listeners = this.channelListeners.get(channel);
    if (listeners) listeners.push(onMessage);
    else this.channelListeners.set(channel, [onMessage]);
    let subscription = this.subscriptions.get(channel);
    if (!subscription) {
      subscription = this.subscriber.subscribe(channel).then(() => undefined);
      this.subscriptions.set(channel, subscription);
    }
    await subscription;
  }

  /**
   * For readiness: null when Redis answers PING within `timeoutMs`, otherwise why not. Never throws and
   * never waits longer than `timeoutMs`.
   */
  async readinessProblem(timeoutMs = REDIS_READINESS_TIMEOUT_MS): Promise<string | null> {
    const unreachable = (why: string): string => `the shared store (Redis) at ${this.target} is unreachable: ${why}`;
    if (this.client.status !== 'ready') return unreachable(this.lastError ?? `connection ${this.client.status}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to PING within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.client.ping(), timeout]);
      return null;
    } catch (error) {
      return unreachable((error as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.subscriber) {
      const subscriber = this.subscriber;
      this.subscriber = undefined;
      this.channelListeners.clear();
      this.subscriptions.clear();
      try {
        await subscriber.quit();
      } catch {
        subscriber.disconnect();
      }
    }
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  /**
   * EVALSHA, and EVAL when Redis does not know the script (first use, or after a restart flushed its
   * script cache: the EVALSHA did not run, so running it now runs it once). Plain commands rather than
   * ioredis's defineCommand, so that they join the automatic pipeline of their turn of the event loop.
   */
  private async evalScript(script: LuaScript, keysAndArgs: (string | number)[]): Promise<unknown> {
    const known = this.scripts.get(script.name);
    if (known !== script) {
      if (known) throw new Error(`Two Lua scripts are named ${script.name}`);
      this.scripts.set(script.name, script);
    }
    try {
      return await this.client.evalsha(script.sha, script.numberOfKeys, ...keysAndArgs);
    } catch (error) {
      if (!(error instanceof RedisReplyError && error.message.startsWith('NOSCRIPT'))) throw error;
      return this.client.eval(script.lua, script.numberOfKeys, ...keysAndArgs);
    }
  }

  private reportRecovery(): void {
    if (this.outageReported) this.logger.log(`The shared store (Redis) at ${this.target} is reachable again`);
    this.outageReported = false;
    this.lastError = undefined;
  }

  /** Logs the first failure of an outage only (the client retries, and would log every second). */
  private reportOutage(message: string): void {
    this.lastError = message;
    if (this.outageReported) return;
    this.outageReported = true;
    this.logger.error(`The shared store (Redis) at ${this.target} is unreachable (${message}): requests that need it get 503 until it is back`);
  }
}
