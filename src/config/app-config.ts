import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Max,
  Min,
  MinLength,
  registerDecorator,
  validateSync,
  ValidationArguments,
} from 'class-validator';
import proxyAddr from 'proxy-addr';
import { IsRedisUrl, redactRedisUrl } from '../common/redis/redis-url';

const toBoolean = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['on', 'true', '1', 'yes'].includes(v)) return true;
  if (['off', 'false', '0', 'no'].includes(v)) return false;
  return value;
};

const toAccessLog = ({ value }: { value: unknown }): unknown => {
  const mode = toBoolean({ value });
  if (mode === true) return 'on';
  if (mode === false) return 'off';
  return typeof mode === 'string' ? mode.trim().toLowerCase() : mode;
};

const toInt = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  return /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
};

const toNumber = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  return /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value.trim()) : value;
};

const toLowerCase = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim().toLowerCase() : value);

/** The log levels, most severe first: LOG_LEVEL keeps the ones up to itself. `info` is Nest's `log`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;
export type AppLogLevel = (typeof LOG_LEVELS)[number];

const toLogLevel = ({ value }: { value: unknown }): unknown => {
  const level = toLowerCase({ value });
  return level === 'info' ? 'log' : level;
};

/** What Express's `trust proxy` setting takes: a boolean, a hop count, or addresses, subnets and names. */
export type TrustProxy = boolean | number | string;

/**
 * TRUST_PROXY as Express reads it: `true`/`false` (also on/off, yes/no), a hop count (`1`), or a
 * comma-separated list of addresses, subnets and the names `loopback`, `linklocal` and `uniquelocal`.
 */
const toTrustProxy = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const asBoolean = toBoolean({ value: v });
  return typeof asBoolean === 'boolean' ? asBoolean : v;
};

/** Whether Express can compile the value as `trust proxy` (proxy-addr is what Express uses for it). */
function IsTrustProxy(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isTrustProxy',
      target: target.constructor,
      propertyName: String(propertyName),
      validator: {
        validate(value: unknown): boolean {
          if (typeof value === 'boolean') return true;
          if (typeof value === 'number') return Number.isInteger(value) && value >= 0;
          if (typeof value !== 'string' || value.trim() === '') return false;
          try {
            proxyAddr.compile(value.split(',').map((part) => part.trim()));
            return true;
          } catch {
            return false;
          }
        },
        defaultMessage: (args?: ValidationArguments) =>
          `${args?.property} must be true, false, a hop count, or a comma-separated list of addresses, subnets (10.0.0.0/8), loopback, linklocal or uniquelocal`,
      },
    });
}

/**
 * Every setting the server reads from its environment, with its default.
 * The README's configuration table lists the same variables; keep them in step.
 */
export class AppConfig {
  @Transform(toInt) @IsInt() @Min(0) @Max(65535)
  PORT = 5001;

  @IsString() @MinLength(1)
  HOST = '0.0.0.0';

  /** Where users.json and servers.json are snapshotted. Prompts never go there. */
  @IsString() @MinLength(1)
  DATA_DIR = './data';

  @Transform(toInt) @IsInt() @Min(1)
  STALE_SERVER_SECONDS = 300;

  @Transform(toInt) @IsInt() @Min(1)
  PROMPT_EXPIRY_SECONDS = 600;

  @Transform(toInt) @IsInt() @Min(1) @Max(3600)
  SWEEP_INTERVAL_SECONDS = 10;

  @Transform(toInt) @IsInt() @Min(1) @Max(3600)
  SNAPSHOT_INTERVAL_SECONDS = 5;

  /**
   * Group commit of the journals (users.journal, servers.journal): acknowledged changes are written and
   * fdatasynced at most this many ms after they were made, so a crash loses at most that much.
   */
  @Transform(toInt) @IsInt() @Min(1) @Max(1000)
  JOURNAL_COMMIT_MS = 200;

  /** New server names one client address may register per hour (429 beyond); 0 = unlimited. */
  @Transform(toInt) @IsInt() @Min(0)
  REGISTRATIONS_PER_HOUR_PER_ADDRESS = 20;

  /** A server that never generated anything is forgotten (its name freed) this many hours after its last pop. */
  @Transform(toInt) @IsInt() @Min(1)
  FORGET_UNUSED_SERVERS_HOURS = 24;

  /**
   * `GET /servers` answers from a list at most this many ms old, built once for all callers, and status
   * reads from a copy of the active servers at most this old (ServersService.activeSnapshot); 0 = per request.
   */
  @Transform(toInt) @IsInt() @Min(0) @Max(60000)
  SERVERS_LIST_CACHE_MS = 1000;

  /** A popped generation not handed in by its deadline goes back to waiting; this is the shortest deadline. */
  @Transform(toInt) @IsInt() @Min(1)
  GENERATION_TIMEOUT_MIN_SECONDS = 120;

  /** Deadline = max(minimum, max_length ÷ the server's measured tokens per second × this factor). */
  @Transform(toNumber) @IsNumber() @Min(1)
  GENERATION_TIMEOUT_SAFETY_FACTOR = 3;

  /** Unfinished requests one user may have at once (anonymous users: per address). */
  @Transform(toInt) @IsInt() @Min(1)
  MAX_WAITING_REQUESTS_PER_USER = 30;

  /** Fair share: how far a requester's balance (contributions − usage, tokens) can lift or lower a request. */
  @Transform(toInt) @IsInt() @Min(0)
  FAIR_SHARE_BALANCE_CAP = 1000;

  /** Fair share: priority a waiting request gains per second, in balance tokens, so nobody starves. */
  @Transform(toNumber) @IsNumber() @Min(0.001)
  FAIR_SHARE_AGING_PER_SECOND = 5;

  @Transform(toInt) @IsInt() @Min(1) @Max(10000)
  MAX_N = 100;

  @Transform(toInt) @IsInt() @Min(1)
  MAX_PROMPT_CHARS = 100_000;

  /** Largest `params` of one request, in bytes of its JSON: params are kept with the request and sent to every worker. */
  @Transform(toInt) @IsInt() @Min(256)
  MAX_PARAMS_BYTES = 16_384;

  /**
   * Largest request body, in bytes. Unset: {@link defaultBodyLimit}, which follows MAX_PROMPT_CHARS and
   * MAX_PARAMS_BYTES (see there); the default below is its value for their defaults.
   */
  @Transform(toInt) @IsInt() @Min(1024)
  BODY_LIMIT_BYTES = 681_920;

  /** Time a client has to send a request's headers; a connection that has not is closed (408). */
  @Transform(toInt) @IsInt() @Min(1) @Max(3600)
  HEADERS_TIMEOUT_SECONDS = 10;

  /** Time a client has to send a whole request, headers and body; at least HEADERS_TIMEOUT_SECONDS. */
  @Transform(toInt) @IsInt() @Min(1) @Max(3600)
  REQUEST_TIMEOUT_SECONDS = 30;

  /** An idle keep-alive connection is closed after this long. */
  @Transform(toInt) @IsInt() @Min(1) @Max(3600)
  KEEP_ALIVE_TIMEOUT_SECONDS = 5;

  /** At shutdown, requests in progress get this long to finish before their connections are closed. */
  @Transform(toNumber) @IsNumber() @Min(0) @Max(600)
  SHUTDOWN_GRACE_SECONDS = 5;

  @Transform(toBoolean) @IsBoolean()
  RATE_LIMITS = true;

  @Transform(toInt) @IsInt() @Min(1)
  RATE_LIMIT_PER_MINUTE = 90;

  @Transform(toInt) @IsInt() @Min(1)
  RATE_LIMIT_CREATE_PER_MINUTE = 10;

  @Transform(toInt) @IsInt() @Min(1)
  RATE_LIMIT_STATUS_PER_MINUTE = 30;

  @Transform(toInt) @IsInt() @Min(1)
  RATE_LIMIT_POP_PER_SECOND = 2;

  /** Status reads of the v2 API (`GET /api/v2/generate/text/status/{id}`) per second from one IP: its clients poll every 0.5–1 s. */
  @Transform(toInt) @IsInt() @Min(1)
  RATE_LIMIT_POLL_PER_SECOND = 4;

  /** Wrong server passwords (pop, submit) per minute from one client IP before it gets 429 for the rest of the minute. */
  @Transform(toInt) @IsInt() @Min(1)
  RATE_LIMIT_AUTH_FAILURES_PER_MINUTE = 10;

  /** Wrong passwords per minute for one server name, from any address, before further guesses get 429. */
  @Transform(toInt) @IsInt() @Min(1)
  RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE = 30;

  /**
   * `open`: anyone may register a username with `POST /users` and get an API key (AI Horde v2 API);
   * `closed`: registration answers 403 (accounts registered before keep working).
   */
  @Transform(toLowerCase) @IsIn(['open', 'closed'])
  ACCOUNT_REGISTRATION: 'open' | 'closed' = 'open';

  /** `*` for every origin, or a comma-separated list of origins. */
  @IsString() @MinLength(1)
  CORS_ORIGINS = '*';

  /**
   * Express "trust proxy": which peers may tell the client's address in X-Forwarded-For. Behind one
   * reverse proxy, its address (or `1`); `true` trusts every hop, so any client can pick its address.
   */
  @Transform(toTrustProxy) @IsTrustProxy()
  TRUST_PROXY: TrustProxy = false;

  /**
   * The shared store (Redis): unset keeps everything in this process's memory; set, every store is in
   * Redis and any number of instances on it are one cluster.
   */
  @IsOptional() @IsString() @IsRedisUrl()
  REDIS_URL: string | undefined = undefined;

  /** `info` is accepted for `log`. */
  @Transform(toLogLevel) @IsIn(LOG_LEVELS, { message: 'LOG_LEVEL must be one of error, warn, info (the same as log), log, debug, verbose, fatal' })
  LOG_LEVEL: AppLogLevel = 'log';

  /** `text` (Nest's format, control characters escaped) or `json` (one object per line). */
  @Transform(toLowerCase) @IsIn(['text', 'json'])
  LOG_FORMAT: 'text' | 'json' = 'text';

  /**
   * One line per HTTP request: `quiet` leaves out successful pops, status reads, health checks, metrics
   * scrapes and the status page; `on` logs every request; `off` adds nothing to the request path.
   */
  @Transform(toAccessLog) @IsIn(['on', 'quiet', 'off'])
  ACCESS_LOG: 'on' | 'quiet' | 'off' = 'quiet';
}

/**
 * BODY_LIMIT_BYTES when it is not set: room for a prompt of MAX_PROMPT_CHARS even when every character
 * is sent as a 6-byte `\uXXXX` escape (Python's json.dumps, which KoboldAI clients use, escapes all
 * non-ASCII text so), params of MAX_PARAMS_BYTES, and 64 KiB for the other fields (username, models).
 * 681,920 bytes with the defaults.
 */
export function defaultBodyLimit(config: Pick<AppConfig, 'MAX_PROMPT_CHARS' | 'MAX_PARAMS_BYTES'>): number {
  return 6 * config.MAX_PROMPT_CHARS + config.MAX_PARAMS_BYTES + 65_536;
}

export type AppConfigOverrides = Partial<Record<keyof AppConfig, string | number | boolean>>;

/** A bad value as the error message shows it: never a password. */
function shownValue(property: string, value: unknown): unknown {
  return property === 'REDIS_URL' && typeof value === 'string' ? redactRedisUrl(value) : value;
}

/**
 * Builds the validated configuration from environment-like input. Unknown variables are ignored;
 * a bad value throws an error that names the variable, which stops the start.
 */
export function loadAppConfig(env: Record<string, unknown>): AppConfig {
  const known = Object.keys(new AppConfig());
  const input: Record<string, unknown> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const config = plainToInstance(AppConfig, input);
  const errors = validateSync(config, { forbidUnknownValues: false });
  const details = errors.map((e) => `${e.property}=${JSON.stringify(shownValue(e.property, e.value))}: ${Object.values(e.constraints ?? {}).join(', ')}`);
  if (errors.length === 0 && config.HEADERS_TIMEOUT_SECONDS > config.REQUEST_TIMEOUT_SECONDS) {
    details.push(`HEADERS_TIMEOUT_SECONDS=${config.HEADERS_TIMEOUT_SECONDS}: must not be greater than REQUEST_TIMEOUT_SECONDS (${config.REQUEST_TIMEOUT_SECONDS})`);
  }
  if (details.length > 0) throw new Error(`Invalid configuration: ${details.join('; ')}`);
  if (input.BODY_LIMIT_BYTES === undefined) config.BODY_LIMIT_BYTES = defaultBodyLimit(config);
  return config;
}
