import * as http from 'node:http';

export interface JsonAnswer {
  status: number;
  json: ReturnType<typeof JSON.parse>;
}

/** A keep-alive HTTP client for JSON APIs on 127.0.0.1, for load-style tests and the soak. */
export class JsonClient {
  private readonly agent: http.Agent;

  constructor(
    private readonly port: number,
    private readonly timeoutMs = 15_000,
    maxSockets = 1,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /** The status and parsed JSON body; rejects on a connection error (refused, reset, hang up) or a timeout (code ETIMEDOUT). */
  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<JsonAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path,
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('error', reject);
          response.on('end', () => {
            try {
              resolve({ status: response.statusCode ?? 0, json: text ? JSON.parse(text) : undefined });
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          });
        },
      );
      request.on('timeout', () => request.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
      request.on('error', reject);
      request.end(payload);
    });
  }

  /** Closes its connections; a request still waiting fails with a connection error. */
  close(): void {
    this.agent.destroy();
  }
}
