import { Logger } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { performance } from 'node:perf_hooks';

export type AccessLogMode = 'on' | 'quiet' | 'off';

/** When the request arrived, on the response (one property, set on every response alike). */
const STARTED_AT = Symbol('accessLogStartedAt');
type TimedResponse = Response & { [STARTED_AT]?: number };

/**
 * What a busy cluster does all the time, left out by ACCESS_LOG=quiet when it succeeds: pops, status
 * reads of requests, health checks, metrics scrapes and the status page with its data and files.
 */
export function isRoutine(method: string, path: string): boolean {
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
 * One Express middleware that writes one line per request once its response is done: method, path
 * (no query string), status, duration and client address; never headers, bodies, passwords or prompts.
 * A request whose client went away before the answer is logged with status `aborted`. The only cost on
 * a request is a timestamp and one 'close' listener (a shared function, no closure per request).
 */
export function accessLog(mode: Exclude<AccessLogMode, 'off'>, logger = new Logger('HTTP')): RequestHandler {
  const quiet = mode === 'quiet';
  function onClose(this: TimedResponse): void {
    const request = this.req as Request;
    const finished = this.writableFinished;
    const status = this.statusCode;
    const path = pathOf(request.originalUrl ?? request.url);
    if (quiet && finished && status < 400 && isRoutine(request.method, path)) return;
    const durationMs = Math.round((performance.now() - (this[STARTED_AT] ?? 0)) * 10) / 10;
    const shownStatus = finished ? status : 'aborted';
    logger.log({
      message: `${request.method} ${path} ${shownStatus} ${durationMs} ms ${request.ip ?? ''}`.trimEnd(),
      method: request.method,
      path,
      status: finished ? status : null,
      aborted: finished ? undefined : true,
      duration_ms: durationMs,
      ip: request.ip,
    });
  }
  return (_request: Request, response: Response, next: NextFunction): void => {
    (response as TimedResponse)[STARTED_AT] = performance.now();
    response.on('close', onClose);
    next();
  };
}
