import * as http from 'node:http';
import * as https from 'node:https';

/** A plain HTTP answer: any status, the body as text. */
export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface HttpRequestOptions {
  method?: 'GET' | 'POST';
  /** Sent as JSON when given. */
  body?: unknown;
  /** Whole-request limit; the request fails with code ETIMEDOUT past it. */
  timeoutMs: number;
  /** Answers larger than this fail with code ETOOBIG. */
  maxBytes?: number;
}

/** A request that got no HTTP answer at all (refused, reset, timed out, DNS...). */
export class NetworkError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'NetworkError';
  }
}

/**
 * One HTTP request with node:http (not fetch: undici's fixed 300 s header timeout would cut long
 * KoboldAI generations). Resolves with any status; rejects with NetworkError when there is no answer.
 */
export function httpRequest(url: string, options: HttpRequestOptions): Promise<HttpResponse> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  const maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const fail = (error: Error & { code?: string }): void => {
      if (settled) return;
      settled = true;
      reject(new NetworkError(error.message || String(error.code), error.code ?? 'ENETWORK'));
    };
    const request = transport.request(
      target,
      {
        method: options.method ?? (payload ? 'POST' : 'GET'),
        headers: {
          accept: 'application/json',
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            request.destroy(Object.assign(new Error(`answer larger than ${maxBytes} bytes`), { code: 'ETOOBIG' }));
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', fail);
        response.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    const timer = setTimeout(() => {
      request.destroy(Object.assign(new Error(`no answer within ${options.timeoutMs / 1000} s`), { code: 'ETIMEDOUT' }));
    }, options.timeoutMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      fail(error);
    });
    request.end(payload);
  });
}

/** Parses JSON, or returns undefined for anything that is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
