import request from 'supertest';

/** Helpers for the AI Horde v2 e2e tests: what every v2 client and worker does first. */

type Http = ReturnType<typeof request>;

export const ANONYMOUS_KEY = '0000000000';

/** Registers `username` (POST /users) and answers its API key. */
export async function registerUser(http: Http, username: string): Promise<string> {
  const answer = await http.post('/users').send({ username }).expect(201);
  const body = answer.body as { username: string; api_key: string };
  if (body.username !== username || typeof body.api_key !== 'string') throw new Error(`unexpected registration answer ${JSON.stringify(body)}`);
  return body.api_key;
}

/** The scribe's pop body (AI-Horde-Worker worker/jobs/poppers.py, ScribePopper). */
export function scribePopBody(name: string, model: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    models: [model],
    max_length: 80,
    max_context_length: 1024,
    priority_usernames: [],
    softprompts: [],
    bridge_agent: 'AI Horde Worker:24:https://github.com/db0/AI-Horde-Worker',
    threads: 1,
    ...overrides,
  };
}

export interface HordeJob {
  id: string;
  ids: string[];
  payload: Record<string, unknown> & { prompt: string; max_length: number; max_context_length: number; n: number };
  model: string;
  ttl: number;
  skipped: Record<string, number>;
}

/** Pops as a v2 worker until it gets a job (at most `tries` pops); answers the job. */
export async function popJob(http: Http, apiKey: string, body: Record<string, unknown>, tries = 5): Promise<HordeJob> {
  for (let i = 0; i < tries; i++) {
    const answer = await http.post('/api/v2/generate/text/pop').set('apikey', apiKey).send(body).expect(200);
    if (answer.body.id) return answer.body as HordeJob;
  }
  throw new Error(`no job after ${tries} pops of ${JSON.stringify(body)}`);
}
