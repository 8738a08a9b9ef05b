import { Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

export type AccessLogMode = 'on' | 'quiet' | 'off';

/** When the request arrived, on the response. */
const STARTED_AT = Symbol('accessLogStartedAt');
/** The access log's 'close' handler, on the HTTP server it was installed on. */
const ON_CLOSE = Symbol('accessLogOnClose');
type TimedResponse = ServerResponse & { [STARTED_AT]?: number };
type LoggedServer = Server & { [ON_CLOSE]?: (this: ServerResponse) => void };

/**
 * What a busy cluster does all the time, left out by ACCESS_LOG=quiet when it succeeds: pops, status
 * reads of requests, health checks, metrics scrapes and the status page with its data and files.
 */
export function isRoutine(method: string | undefined, path: string): boolean {
  if (method === 'POST') return path === '/generate/pop';
  if (method !== 'GET' && method !== 'HEAD') return false;
  return (
    path === '/' ||
    path.startsWith('/generate/prompt/') ||
    path === '/metrics' ||
    path === '/health' ||
    path.startsWith('/health/') ||
    path === '/status' ||
    path.startsWith('/status/') ||
    path.startsWith('/assets/')
  );
}

/** The path without its query string: a query could carry anything, and the log keeps none of it. */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Writes one line per HTTP request once its response is done: method, path (no query string), status,
 * duration and client address; never headers, bodies, passwords or prompts. A request whose client went
 * away before the answer is logged with status `aborted`.
 *
 * It listens to the HTTP server's requests ahead of Express (no middleware layer for Express to walk
 * through). In `quiet` mode a routine request (see isRoutine) gets a timestamp and nothing else: no
 * listener, no line, unless it fails, when the exception filter calls {@link watchFailedResponse}.
 * `off` installs nothing.
 */
export function installAccessLog(server: Server, mode: Exclude<AccessLogMode, 'off'>, logger = new Logger('HTTP')): void {
  const quiet = mode === 'quiet';
  function onClose(this: TimedResponse): void {
    const request = this.req as Request;
    const finished = this.writableFinished;
    const status = this.statusCode;
    const path = pathOf(request.originalUrl ?? request.url);
    if (quiet && finished && status < 400 && isRoutine(request.method, path)) return;
    const durationMs = Math.round((performance.now() - (this[STARTED_AT] ?? 0)) * 10) / 10;
    logger.log({
      message: `${request.method} ${path} ${finished ? status : 'aborted'} ${durationMs} ms ${request.ip ?? ''}`.trimEnd(),
      method: request.method,
      path,
      status: finished ? status : null,
      aborted: finished ? undefined : true,
      duration_ms: durationMs,
      ip: request.ip,
    });
  }
  (server as LoggedServer)[ON_CLOSE] = onClose;
  server.prependListener('request', (request: IncomingMessage, response: TimedResponse) => {
    response[STARTED_AT] = performance.now();
    if (quiet && isRoutine(request.method, pathOf(request.url ?? ''))) return;
    response.on('close', onClose);
  });
}

/** Called for every error answer: a routine request that ACCESS_LOG=quiet did not watch is logged after all. */
export function watchFailedResponse(response: Response): void {
  const server = (response.socket as { server?: LoggedServer } | null)?.server;
  const onClose = server?.[ON_CLOSE];
  if (!onClose || (response as TimedResponse)[STARTED_AT] === undefined) return;
  if (!response.listeners('close').includes(onClose)) response.on('close', onClose);
}
