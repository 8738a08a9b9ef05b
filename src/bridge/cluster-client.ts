import { httpRequest, HttpResponse, NetworkError, parseJson } from './http-request';

export interface PopRequest {
  username: string;
  password: string;
  name: string;
  model: string;
  max_length: number;
  max_content_length: number;
  priority_usernames: string[];
}

export interface SkippedCounts {
  model?: number;
  max_length?: number;
  max_content_length?: number;
  [reason: string]: number | undefined;
}

export type PopAnswer = { id: string; payload: Record<string, unknown> } | { id: null; skipped: SkippedCounts };

export interface SubmitAnswer {
  reward: number;
  cancelled?: boolean;
}

/**
 * A failed cluster call. `network`: no HTTP answer (down, refused, timed out). `http`: an error
 * status, with the server's message. `bad-answer`: 200 but not the expected JSON.
 */
export type ClusterFailure =
  | { ok: false; kind: 'network'; message: string }
  | { ok: false; kind: 'http'; status: number; message: string; retryAfterMs?: number }
  | { ok: false; kind: 'bad-answer'; message: string };
export type ClusterResult<T> = { ok: true; value: T } | ClusterFailure;

/** The bridge's side of the cluster API: `POST /generate/pop` and `POST /generate/submit`. */
export class ClusterClient {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 30_000,
  ) {}

  async pop(request: PopRequest): Promise<ClusterResult<PopAnswer>> {
    const answer = await this.post('/generate/pop', request);
    if (!answer.ok) return answer;
    const body = answer.value as { id?: unknown; payload?: unknown; skipped?: unknown };
    if (typeof body.id === 'string' && typeof body.payload === 'object' && body.payload !== null) {
      return { ok: true, value: { id: body.id, payload: body.payload as Record<string, unknown> } };
    }
    if (body.id === null) {
      const skipped = typeof body.skipped === 'object' && body.skipped !== null ? (body.skipped as SkippedCounts) : {};
      return { ok: true, value: { id: null, skipped } };
    }
    return { ok: false, kind: 'bad-answer', message: `${this.baseUrl}/generate/pop answered JSON without an id and payload` };
  }

  async submit(id: string, password: string, generation: string): Promise<ClusterResult<SubmitAnswer>> {
    const answer = await this.post('/generate/submit', { id, password, generation });
    if (!answer.ok) return answer;
    const body = answer.value as { reward?: unknown; cancelled?: unknown };
    return { ok: true, value: { reward: typeof body.reward === 'number' ? body.reward : 0, cancelled: body.cancelled === true } };
  }

  private async post(path: string, body: unknown): Promise<ClusterResult<object>> {
    const url = `${this.baseUrl}${path}`;
    let response: HttpResponse;
    try {
      response = await httpRequest(url, { method: 'POST', body, timeoutMs: this.timeoutMs });
    } catch (error) {
      const code = error instanceof NetworkError ? error.code : (error as Error).message;
      return { ok: false, kind: 'network', message: `the cluster at ${this.baseUrl} is unreachable (${code})` };
    }
    const json = parseJson(response.text);
    if (response.status !== 200) {
      const message = (json as { message?: unknown } | undefined)?.message;
      const text = Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : `HTTP ${response.status}`;
      return { ok: false, kind: 'http', status: response.status, message: text.slice(0, 300), retryAfterMs: retryAfterMs(response) };
    }
    if (typeof json !== 'object' || json === null) return { ok: false, kind: 'bad-answer', message: `${url} did not answer JSON: is ${this.baseUrl} a KoboldAI Cluster?` };
    return { ok: true, value: json };
  }
}

function retryAfterMs(response: HttpResponse): number | undefined {
  const header = response.headers['retry-after'];
  const seconds = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}
