import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

export interface KaiSimulatorOptions {
  model: string;
  maxLength: number;
  maxContextLength: number;
  /** How long each generation takes. */
  delayMs: number;
  /** When > 0, every Nth request (of any kind) is answered 503, to test retries. */
  failEvery: number;
  /** Told about each generation: its number, word count and duration. Never the prompt or text. */
  onGeneration?: (event: { count: number; words: number; ms: number }) => void;
}

const WORDS = ['the', 'lantern', 'swayed', 'over', 'a', 'quiet', 'harbour', 'while', 'gulls', 'argued', 'about', 'bread', 'and', 'rain'];
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Deterministic filler standing in for a model's output: a few words chosen from the prompt's
 * length, at most `maxLength` of them.
 */
export function fillerText(promptLength: number, maxLength: number): string {
  const count = Math.max(1, Math.min(maxLength, 6 + (promptLength % 10)));
  const words: string[] = [];
  for (let i = 0; i < count; i++) words.push(WORDS[(promptLength + i * 5) % WORDS.length]);
  return ` ${words.join(' ')}.`;
}

/**
 * A stand-in for a KoboldAI (United) instance: the API subset the bridge uses, one generation at a
 * time (503 while one runs, as KoboldAI does), with a configurable model, limits and delay.
 */
export class KaiSimulator {
  private readonly server: Server;
  private busy = false;
  private calls = 0;
  private generations = 0;

  constructor(private readonly options: KaiSimulatorOptions) {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch(() => send(response, 500, { detail: { msg: 'Internal error', type: 'internal' } }));
    });
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve(this.server.address() as AddressInfo));
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.calls += 1;
    const body = await readBody(request);
    const { failEvery } = this.options;
    if (failEvery > 0 && this.calls % failEvery === 0) {
      send(response, 503, { detail: { msg: 'Simulated failure (--fail-every)', type: 'service_unavailable' } });
      return;
    }
    const path = (request.url ?? '/').split('?')[0].replace(/\/+$/, '');
    const api = /^\/api\/(latest|v1)(\/.*)$/.exec(path);
    const route = `${request.method} ${api ? api[2] : path}`;
    switch (route) {
      case 'GET /model':
        return send(response, 200, { result: this.options.model });
      case 'GET /config/max_length':
        return send(response, 200, { value: this.options.maxLength });
      case 'GET /config/max_context_length':
        return send(response, 200, { value: this.options.maxContextLength });
      case 'POST /generate':
        return this.generate(body, response);
      case 'GET ':
        response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>KoboldAI simulator</title><p>KoboldAI simulator</p>');
        return;
      default:
        return send(response, 404, { detail: 'Not Found' });
    }
  }

  private async generate(body: string, response: ServerResponse): Promise<void> {
    if (this.busy) {
      send(response, 503, { detail: { msg: 'Server is busy; please try again later.', type: 'service_unavailable' } });
      return;
    }
    let payload: { prompt?: unknown; max_length?: unknown };
    try {
      payload = JSON.parse(body) as typeof payload;
    } catch {
      send(response, 422, { detail: { msg: 'The body is not JSON', type: 'validation_error' } });
      return;
    }
    if (typeof payload !== 'object' || payload === null || typeof payload.prompt !== 'string') {
      send(response, 422, { detail: { msg: 'prompt: Missing data for required field.', type: 'validation_error' } });
      return;
    }
    const maxLength = typeof payload.max_length === 'number' ? Math.min(payload.max_length, this.options.maxLength) : this.options.maxLength;
    this.busy = true;
    const started = Date.now();
    try {
      await new Promise((resolve) => setTimeout(resolve, this.options.delayMs));
      const text = fillerText(payload.prompt.length, maxLength);
      this.generations += 1;
      this.options.onGeneration?.({ count: this.generations, words: text.trim().split(/\s+/).length, ms: Date.now() - started });
      send(response, 200, { results: [{ text }] });
    } finally {
      this.busy = false;
    }
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        request.destroy();
        reject(new Error('body too large'));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}
