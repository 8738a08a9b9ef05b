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

/** A key of the cluster: the prefix with its hash tag, then `parts` joined by `:`. */
export function redisKey(...parts: string[]): string {
  return REDIS_KEY_PREFIX + parts.join(':');
}

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

/** The shared store cannot be reached (or cannot serve this cluster): the request is answered 503 (through the one exception filter). */
export class SharedStoreUnavailableException extends ServiceUnavailableException {
  constructor(cause?: unknown, message = 'The shared store (Redis) is unreachable: try again in a moment') {
    super(message, { cause });
  }
}

/** The oldest Redis major version the stores run on: the generation store's Lua is a library of functions (FUNCTION LOAD, FCALL). */
export const MINIMUM_REDIS_MAJOR_VERSION = 7;

/** Why the Redis whose `INFO server` this is cannot serve the cluster (too old), or null (also when it does not say). */
export function redisVersionProblem(info: string): string | null {
  const version = /^redis_version:(\S+)/m.exec(info)?.[1];
  if (version === undefined || Number(version.split('.')[0]) >= MINIMUM_REDIS_MAJOR_VERSION) return null;
  return `The shared store is Redis ${version}; this cluster needs Redis ${MINIMUM_REDIS_MAJOR_VERSION}.0 or later (its Lua runs as Redis functions)`;
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

/** How often an instance writes that its build's version of a library is in use (on a call, not by a timer). */
export const LIBRARY_IN_USE_EVERY_MS = 60_000;
/**
 * Other builds' versions of a library not written as in use for this long are deleted: every loaded
 * library stays in Redis's one Lua heap, whose garbage collector walks it all every 50 calls, so the
 * versions of past deploys would slow every call. An instance of such a build still running (idle that
 * long) loads its version again on its next call.
 */
export const LIBRARY_UNUSED_AFTER_MS = 10 * 60_000;

/**
 * The globals a library's code may use, bound once per Redis to upvalues of the same names (see LuaLibrary):
 * a function's global reads go through a metatable (Redis's sandbox), an upvalue read does not.
 */
const LIBRARY_GLOBALS = ['redis', 'string', 'math', 'table', 'tonumber', 'tostring', 'ipairs', 'pairs', 'unpack', 'type'];

/**
 * Lua functions that share one library of code, loaded once into Redis (FUNCTION LOAD, Redis ≥ 7.0) and
 * called by name (FCALL): the library's shared code (`prelude`: its local functions and tables) runs when
 * the library is loaded, not on every call as the prelude of an EVAL script does. Each function still runs
 * as one atomic step. Inside a function body, KEYS and ARGV are its keys and arguments, as in a script, and
 * the prelude's functions see them too (library upvalues set at each call). The prelude must not keep state
 * across calls unless its functions reset it (each body may call a reset of its own first).
 *
 * The library's name in Redis carries a hash of its code, and so do its functions' names: instances of
 * different builds share one Redis (a rolling deploy), each calling its own code. A Redis without the
 * library (first use, restarted without persistence, FUNCTION FLUSH) gets it from the first call that
 * misses it (RedisConnection.runFunction).
 */
export class LuaLibrary {
  private readonly functions: LuaFunction[] = [];
  private loadable: { name: string; code: string; version: string } | undefined;

  constructor(
    /** Letters, digits and underscores (a Redis library name). */
    readonly name: string,
    readonly numberOfKeys: number,
    private readonly prelude: string,
  ) {}

  /** A function of this library; all are defined before the library is first loaded. */
  define(name: string, body: string): LuaFunction {
    if (this.loadable) throw new Error(`Lua library ${this.name} is complete: define ${name} before its first use`);
    if (this.functions.some((f) => f.name === name)) throw new Error(`Lua library ${this.name} defines ${name} twice`);
    const defined = new LuaFunction(this, name, body);
    this.functions.push(defined);
    return defined;
  }

  /** The hash of the library's code: part of its name and of its functions' names in Redis. */
  get version(): string {
    return this.complete().version;
  }

  /** The library's name in Redis and the code FUNCTION LOAD takes. */
  complete(): { name: string; code: string; version: string } {
    if (this.loadable) return this.loadable;
    const hash = createHash('sha1').update(this.name).update('\0').update(this.prelude);
    for (const f of this.functions) hash.update('\0').update(f.name).update('\0').update(f.body);
    const version = hash.digest('hex').slice(0, 12);
    const globals = LIBRARY_GLOBALS.join(', ');
    const code = [
      `#!lua name=${this.name}_${version}`,
      // Redis's own `redis` while loading (it has register_function), then the call-time globals as upvalues.
      'local libraryApi = redis',
      `local function callTimeGlobals() return ${globals} end`,
      `local ${globals}`,
      'local KEYS, ARGV',
      this.prelude,
      ...this.functions.map((f) =>
        [
          `libraryApi.register_function('${f.name}_${version}', function(keys, args)`,
          `  if not redis then ${globals} = callTimeGlobals() end`,
          '  KEYS, ARGV = keys, args',
          f.body,
          'end)',
        ].join('\n'),
      ),
    ].join('\n');
    this.loadable = { name: `${this.name}_${version}`, code, version };
    return this.loadable;
  }
}

/** A function of a LuaLibrary, run by RedisConnection.runFunction. */
export class LuaFunction {
  constructor(
    readonly library: LuaLibrary,
    readonly name: string,
    readonly body: string,
  ) {}

  /** Its name in Redis (with its library's version). */
  get redisName(): string {
    return `${this.name}_${this.library.version}`;
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
  /** Library loads under way (one per library at a time, however many calls missed it). */
  private readonly libraryLoads = new Map<LuaLibrary, Promise<void>>();
  /** When this instance last wrote that it uses each library (see keepLibrary). */
  private readonly libraryInUseWritten = new Map<LuaLibrary, number>();
  /** The pub/sub connection, made on the first subscribe (a subscribed connection can run nothing else). */
  private subscriber: Redis | undefined;
  private readonly channelListeners = new Map<string, ((message: string) => void)[]>();
  private readonly subscriptions = new Map<string, Promise<void>>();
  private lastError: string | undefined;
  private outageReported = false;
  /** Set while the Redis connected to is too old (see redisVersionProblem): every operation then answers 503 saying so. */
  private versionProblem: string | null = null;

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
    this.client.on('ready', () => {
      this.reportRecovery();
      this.checkVersion();
    });
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

  /** A key of the cluster (redisKey). */
  key(...parts: string[]): string {
    return redisKey(...parts);
  }

  /**
   * Runs one Redis operation; an outage becomes SharedStoreUnavailableException (503). A Redis error
   * reply that is not about availability (wrong type, script error) is a bug and is rethrown as is.
   */
  async run<T>(operation: (client: Redis) => Promise<T>): Promise<T> {
    if (this.versionProblem) throw new SharedStoreUnavailableException(undefined, this.versionProblem);
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

  /** Runs `fn` (one atomic step in Redis) with its keys and arguments; loads its library first where Redis lacks it. */
  runFunction(fn: LuaFunction, keys: string[], args: (string | number)[] = []): Promise<unknown> {
    if (keys.length !== fn.library.numberOfKeys) throw new Error(`Function ${fn.name} takes ${fn.library.numberOfKeys} keys, got ${keys.length}`);
    this.noteLibraryInUse(fn.library, Date.now());
    return this.run(() => this.callFunction(fn, keys, args));
  }

  /**
   * Writes that this build's version of `library` is in use (hash `{kc}:libraries:<name>`, version →
   * time), and deletes the other versions of it in Redis not written as in use since
   * LIBRARY_UNUSED_AFTER_MS before `now` (or never: a build from before this). Answers the deleted names.
   */
  async keepLibrary(library: LuaLibrary, now: number): Promise<string[]> {
    const { name } = library.complete();
    const inUse = this.key('libraries', library.name);
    return this.run(async (client) => {
      await client.hset(inUse, name, now);
      const listed = (await client.function('LIST', 'LIBRARYNAME', `${library.name}_*`)) as unknown[][];
      const written = await client.hgetall(inUse);
      const deleted: string[] = [];
      for (const entry of listed) {
        const other = String(entry[entry.indexOf('library_name') + 1]);
        if (other === name || !other.startsWith(`${library.name}_`) || Number(written[other] ?? 0) > now - LIBRARY_UNUSED_AFTER_MS) continue;
        // Another instance may have deleted it first.
        await client.function('DELETE', other).catch(() => undefined);
        await client.hdel(inUse, other);
        deleted.push(other);
      }
      if (deleted.length > 0) this.logger.log(`Deleted the unused Lua libraries ${deleted.join(', ')} of other builds from the shared store (Redis)`);
      return deleted;
    });
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
    if (this.versionProblem) return this.versionProblem;
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

  /**
   * FCALL; when Redis lacks the library (first use, a restart without persistence), FUNCTION LOAD and
   * FCALL again: the first FCALL did not run. Libraries of other names (other builds) are left alone; one
   * of the same name has the same code, so "already exists" (another instance was first) is success.
   */
  private async callFunction(fn: LuaFunction, keys: string[], args: (string | number)[]): Promise<unknown> {
    const call = (): Promise<unknown> => this.client.fcall(fn.redisName, keys.length, ...keys, ...args);
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof RedisReplyError && /^ERR Function not found/.test(error.message))) throw error;
      await this.loadLibrary(fn.library);
      return call();
    }
  }

  /** At most every LIBRARY_IN_USE_EVERY_MS per library, keepLibrary in the background (a failure is only logged). */
  private noteLibraryInUse(library: LuaLibrary, now: number): void {
    if (now - (this.libraryInUseWritten.get(library) ?? -Infinity) < LIBRARY_IN_USE_EVERY_MS) return;
    this.libraryInUseWritten.set(library, now);
    this.keepLibrary(library, now).catch((error: unknown) => this.logger.warn(`Could not keep the Lua library ${library.name}: ${(error as Error).message}`));
  }

  private loadLibrary(library: LuaLibrary): Promise<void> {
    let loading = this.libraryLoads.get(library);
    if (!loading) {
      const { name, code } = library.complete();
      loading = this.client
        .function('LOAD', code)
        .then(
          () => this.logger.log(`Loaded the Lua library ${name} into the shared store (Redis)`),
          (error: unknown) => {
            if (!(error instanceof RedisReplyError && /already exists/.test(error.message))) throw error;
          },
        )
        .finally(() => this.libraryLoads.delete(library));
      this.libraryLoads.set(library, loading);
    }
    return loading;
  }

  /** Reads the version of the Redis just connected to (each connection may reach another server, after a failover). */
  private checkVersion(): void {
    this.client.info('server').then(
      (info) => {
        const problem = redisVersionProblem(info);
        if (problem && problem !== this.versionProblem) this.logger.error(`${problem}: every request that needs it gets 503`);
        this.versionProblem = problem;
      },
      // Unreachable again: reported as an outage; the next connection checks again.
      () => undefined,
    );
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
