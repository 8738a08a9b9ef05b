import { registerDecorator } from 'class-validator';
import type { RedisOptions } from 'ioredis';

/** Where the shared store is, as ioredis connection options (no timeouts: see RedisConnection). */
export type RedisTarget = Pick<RedisOptions, 'host' | 'port' | 'path' | 'username' | 'password' | 'db' | 'tls'>;

/**
 * Parses REDIS_URL: `redis://[user[:password]@]host[:port][/db]`, `rediss://…` (TLS), or a unix socket as
 * `unix:///path/to/redis.sock[?db=N]` or a bare absolute path. Throws an Error saying what is wrong.
 */
export function parseRedisUrl(value: string): RedisTarget {
  const text = value.trim();
  if (text.startsWith('/')) return { path: text };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('must be redis://host[:port][/db], rediss://… or a unix socket path (unix:///path/to/redis.sock or /path/to/redis.sock)');
  }
  const protocol = url.protocol;
  if (protocol === 'unix:') {
    if (url.host !== '' || !url.pathname.startsWith('/') || url.pathname === '/') {
      throw new Error('a unix socket must be given as unix:///absolute/path/to/redis.sock');
    }
    rejectUnknownParameters(url, ['db', 'password', 'username']);
    const target: RedisTarget = { path: decodeURIComponent(url.pathname) };
    const db = url.searchParams.get('db');
    if (db !== null) target.db = parseDb(db);
    const password = url.searchParams.get('password');
    if (password !== null) target.password = password;
    const username = url.searchParams.get('username');
    if (username !== null) target.username = username;
    return target;
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new Error(`unsupported scheme "${protocol}": use redis://, rediss:// (TLS) or a unix socket path`);
  }
  if (url.hostname === '') throw new Error('the host is missing (redis://host[:port][/db])');
  rejectUnknownParameters(url, []);
  const target: RedisTarget = { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 6379 : Number(url.port) };
  if (url.username) target.username = decodeURIComponent(url.username);
  if (url.password) target.password = decodeURIComponent(url.password);
  const path = url.pathname.replace(/^\//, '');
  if (path !== '') target.db = parseDb(path);
  if (protocol === 'rediss:') target.tls = { servername: target.host };
  return target;
}

/** The target without credentials, for logs and messages. */
export function describeRedisTarget(target: RedisTarget): string {
  const db = target.db ? ` db ${target.db}` : '';
  if (target.path) return `unix socket ${target.path}${db}`;
  return `${target.tls ? 'rediss' : 'redis'}://${target.host}:${target.port}${db}`;
}

function parseDb(text: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new Error(`the database must be a whole number (got "${text}")`);
  return Number(text);
}

function rejectUnknownParameters(url: URL, allowed: string[]): void {
  for (const key of url.searchParams.keys()) {
    if (!allowed.includes(key)) throw new Error(`unknown parameter "${key}"${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`);
  }
}

/** REDIS_URL as it may be shown in an error message: user and password (also `?password=`) replaced by `***`. */
export function redactRedisUrl(value: string): string {
  return value.replace(/\/\/[^/@]*@/, '//***@').replace(/([?&]password=)[^&]*/g, '$1***');
}

/** REDIS_URL must be a URL parseRedisUrl accepts; its message says what is wrong (never echoing a password). */
export function IsRedisUrl(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isRedisUrl',
      target: target.constructor,
      propertyName: String(propertyName),
      validator: {
        validate: (value: unknown) => {
          if (typeof value !== 'string') return false;
          try {
            parseRedisUrl(value);
            return true;
          } catch {
            return false;
          }
        },
        defaultMessage: (args) => {
          try {
            parseRedisUrl(String(args?.value));
            return 'must be a string';
          } catch (error) {
            return (error as Error).message;
          }
        },
      },
    });
}
