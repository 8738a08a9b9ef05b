import { httpRequest, HttpResponse, NetworkError, parseJson } from './http-request';

/** What a KoboldAI instance offers, as the cluster's pop wants it. */
export interface KoboldInfo {
  model: string;
  maxLength: number;
  maxContentLength: number;
}

/**
 * Why a call to KoboldAI failed. `busy`: 503, KoboldAI runs one generation at a time. `rejected`: a
 * 4xx on generate, the payload itself is refused, so retrying will not help.
 */
export type KaiFailureKind = 'unreachable' | 'not-kobold' | 'busy' | 'rejected' | 'error';
export type KaiResult<T> = { ok: true; value: T } | { ok: false; kind: KaiFailureKind; message: string };

export interface KoboldClientOptions {
  /** Limit for the check's GETs, in ms. */
  checkTimeoutMs?: number;
  /** Limit for one generation, in ms. */
  generateTimeoutMs?: number;
}

const fail = <T>(kind: KaiFailureKind, message: string): KaiResult<T> => ({ ok: false, kind, message });

function looksLikeHtml(response: HttpResponse): boolean {
  const type = String(response.headers['content-type'] ?? '');
  return type.includes('text/html') || /^\s*</.test(response.text);
}

/** Speaks the subset of the KoboldAI (United) API the bridge needs. Never logs; never sees the password. */
export class KoboldClient {
  private readonly checkTimeoutMs: number;
  private readonly generateTimeoutMs: number;

  constructor(
    readonly baseUrl: string,
    options: KoboldClientOptions = {},
  ) {
    this.checkTimeoutMs = options.checkTimeoutMs ?? 10_000;
    this.generateTimeoutMs = options.generateTimeoutMs ?? 15 * 60_000;
  }

  /**
   * Reads the model and limits, as bridge.py does. `onBusy` is asked on each 503 whether to try that
   * call again (it waits its back-off first); without it a 503 fails the check.
   */
  async check(onBusy?: (what: string) => Promise<boolean>): Promise<KaiResult<KoboldInfo>> {
    const model = await this.getField('/api/latest/model', 'result', (v) => typeof v === 'string' && v.length > 0, onBusy);
    if (!model.ok) return model;
    const maxContentLength = await this.getField('/api/latest/config/max_context_length', 'value', isPositiveInt, onBusy);
    if (!maxContentLength.ok) return maxContentLength;
    const maxLength = await this.getField('/api/latest/config/max_length', 'value', isPositiveInt, onBusy);
    if (!maxLength.ok) return maxLength;
    return { ok: true, value: { model: model.value as string, maxContentLength: maxContentLength.value as number, maxLength: maxLength.value as number } };
  }

  /** One generation: POSTs the cluster's payload as is and returns `results[0].text`. */
  async generate(payload: Record<string, unknown>): Promise<KaiResult<string>> {
    const url = `${this.baseUrl}/api/latest/generate`;
    const response = await this.send(url, payload, this.generateTimeoutMs);
    if (!response.ok) return response;
    const { status } = response.value;
    if (status === 503) return fail('busy', `KoboldAI at ${this.baseUrl} is busy (503)`);
    if (status >= 400 && status < 500 && status !== 404) {
      return fail('rejected', `KoboldAI refused the job's parameters (${status}${detailOf(response.value)})`);
    }
    if (status >= 500) return fail('error', `KoboldAI failed the generation (${status}${detailOf(response.value)})`);
    const body = parseJson(response.value.text);
    if (status !== 200 || body === undefined) return fail('not-kobold', this.notKobold(url, response.value, body));
    const results = (body as { results?: unknown }).results;
    const text = Array.isArray(results) ? (results[0] as { text?: unknown } | undefined)?.text : undefined;
    if (typeof text !== 'string') return fail('not-kobold', `${url} answered JSON without results[0].text: not a KoboldAI API`);
    return { ok: true, value: text };
  }

  private async getField(
    path: string,
    field: string,
    valid: (value: unknown) => boolean,
    onBusy?: (what: string) => Promise<boolean>,
  ): Promise<KaiResult<unknown>> {
    const url = `${this.baseUrl}${path}`;
    for (;;) {
      const response = await this.send(url, undefined, this.checkTimeoutMs);
      if (!response.ok) return response;
      if (response.value.status === 503) {
        if (onBusy && (await onBusy(`GET ${path}`))) continue;
        return fail('busy', `KoboldAI at ${this.baseUrl} is busy (503 on GET ${path})`);
      }
      const body = parseJson(response.value.text);
      if (response.value.status !== 200 || body === undefined) return fail('not-kobold', this.notKobold(url, response.value, body));
      const value = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[field] : undefined;
      if (!valid(value)) return fail('not-kobold', `${url} answered JSON without a valid "${field}": ${this.baseUrl} is not a KoboldAI API`);
      return { ok: true, value };
    }
  }

  private async send(url: string, body: unknown, timeoutMs: number): Promise<KaiResult<HttpResponse>> {
    try {
      return { ok: true, value: await httpRequest(url, { method: body === undefined ? 'GET' : 'POST', body, timeoutMs }) };
    } catch (error) {
      const code = error instanceof NetworkError ? error.code : (error as Error).message;
      return fail('unreachable', `KoboldAI at ${this.baseUrl} is unreachable (${code}): is it running, and is the URL right?`);
    }
  }

  private notKobold(url: string, response: HttpResponse, body: unknown): string {
    const hint = `${this.baseUrl} is not a KoboldAI API (the United branch is needed)`;
    if (response.status !== 200) return `${url} answered ${response.status}: ${hint}`;
    if (body === undefined && looksLikeHtml(response)) return `${url} answered an HTML page, not JSON: ${hint}`;
    return `${url} did not answer JSON: ${hint}`;
  }
}

function isPositiveInt(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

/** KoboldAI's error detail (`{"detail": {"msg": ...}}`), shortened; never the payload. */
function detailOf(response: HttpResponse): string {
  const body = parseJson(response.text) as { detail?: { msg?: unknown } | string } | undefined;
  const detail = typeof body?.detail === 'string' ? body.detail : body?.detail?.msg;
  return typeof detail === 'string' ? `: ${detail.slice(0, 200)}` : '';
}
