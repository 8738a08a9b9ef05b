import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { Response } from 'express';
import { installAccessLog, isRoutine, watchFailedResponse } from './access-log';

/**
 * A request through the access log, on a stand-in HTTP server: `failed` plays the exception filter
 * (it answered an error), `finished` false a client that went away. Returns what was logged.
 */
function run(mode: 'on' | 'quiet', method: string, url: string, status: number, { finished = true, failed = status >= 400 } = {}): unknown[] {
  const logged: unknown[] = [];
  const server = new EventEmitter() as unknown as Server;
  installAccessLog(server, mode, { log: (record: unknown) => logged.push(record) } as never);
  const request = { method, url, originalUrl: url, ip: '203.0.113.7' };
  const response = Object.assign(new EventEmitter(), { req: request, statusCode: status, writableFinished: finished, socket: { server } });
  server.emit('request', request, response);
  if (failed) {
    watchFailedResponse(response as unknown as Response);
    watchFailedResponse(response as unknown as Response);
  }
  response.emit('close');
  return logged;
}

describe('installAccessLog', () => {
  it('logs method, path without the query string, status, duration and address', () => {
    expect(run('on', 'POST', '/generate/submit?password=secret', 401)).toEqual([
      {
        message: expect.stringMatching(/^POST \/generate\/submit 401 [\d.]+ ms 203\.0\.113\.7$/),
        method: 'POST',
        path: '/generate/submit',
        status: 401,
        aborted: undefined,
        duration_ms: expect.any(Number),
        ip: '203.0.113.7',
      },
    ]);
  });

  it('quiet: leaves out successful routine requests, keeps their failures and everything else', () => {
    expect(run('quiet', 'POST', '/generate/pop', 200)).toEqual([]);
    expect(run('quiet', 'GET', '/generate/prompt/abc', 200)).toEqual([]);
    expect(run('quiet', 'GET', '/metrics', 200)).toEqual([]);
    expect(run('quiet', 'POST', '/generate/pop', 401)).toHaveLength(1);
    expect(run('quiet', 'GET', '/generate/prompt/abc', 404)).toHaveLength(1);
    expect(run('quiet', 'POST', '/generate/submit', 200)).toHaveLength(1);
    expect(run('quiet', 'POST', '/generate/prompt', 200)).toHaveLength(1);
    expect(run('on', 'POST', '/generate/pop', 200)).toHaveLength(1);
    // An error answer that is not an exception (none today) of a routine request stays quiet.
    expect(run('quiet', 'POST', '/generate/pop', 500, { failed: false })).toEqual([]);
  });

  it('logs a failure once, whether it was watched from the start or after the error', () => {
    expect(run('on', 'POST', '/generate/submit', 404)).toHaveLength(1);
    expect(run('quiet', 'POST', '/generate/pop', 429)).toHaveLength(1);
  });

  it('logs a request whose client went away as aborted (a routine one only with ACCESS_LOG=on)', () => {
    expect(run('quiet', 'POST', '/generate/sync', 200, { finished: false })).toEqual([expect.objectContaining({ status: null, aborted: true, message: expect.stringContaining('aborted') })]);
    expect(run('on', 'GET', '/generate/prompt/abc', 200, { finished: false })).toHaveLength(1);
  });
});

describe('isRoutine', () => {
  it.each([
    ['POST', '/generate/pop', true],
    ['GET', '/generate/prompt/34a9f91a', true],
    ['DELETE', '/generate/prompt/34a9f91a', false],
    ['POST', '/generate/prompt', false],
    ['GET', '/health/ready', true],
    ['GET', '/status', true],
    ['GET', '/status/throughput', true],
    ['GET', '/', true],
    ['GET', '/assets/status-page.js', true],
    ['GET', '/servers', false],
    ['GET', '/api', false],
  ])('%s %s: %s', (method, path, routine) => {
    expect(isRoutine(method, path)).toBe(routine);
  });
});
