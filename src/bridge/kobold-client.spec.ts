import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { KoboldClient } from './kobold-client';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** A tiny local HTTP server whose answers each test chooses. */
async function serve(handler: Handler): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => handler(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

/** Answers like KoboldAI United. */
const kobold: Handler = (req, res) => {
  if (req.url === '/api/latest/model') return json(res, 200, { result: 'KoboldAI/fairseq-dense-2.7B-Nerys' });
  if (req.url === '/api/latest/config/max_context_length') return json(res, 200, { value: 1632 });
  if (req.url === '/api/latest/config/max_length') return json(res, 200, { value: 80 });
  json(res, 404, { detail: 'Not Found' });
};

async function freePortUrl(): Promise<string> {
  const { url, close } = await serve(() => undefined);
  await close();
  return url;
}

describe('KoboldClient.check', () => {
  const servers: { close: () => Promise<void> }[] = [];
  const start = async (handler: Handler): Promise<string> => {
    const s = await serve(handler);
    servers.push(s);
    return s.url;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('reads the model and both limits from a KoboldAI', async () => {
    const client = new KoboldClient(await start(kobold));
    await expect(client.check()).resolves.toEqual({
      ok: true,
      value: { model: 'KoboldAI/fairseq-dense-2.7B-Nerys', maxContentLength: 1632, maxLength: 80 },
    });
  });

  it('says when KoboldAI is unreachable', async () => {
    const url = await freePortUrl();
    const result = await new KoboldClient(url).check();
    expect(result).toMatchObject({ ok: false, kind: 'unreachable' });
    if (!result.ok) expect(result.message).toBe(`KoboldAI at ${url} is unreachable (ECONNREFUSED): is it running, and is the URL right?`);
  });

  it('says when the URL serves an HTML page (e.g. a web UI, not the API)', async () => {
    const url = await start((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html><body>Hello</body></html>'));
    const result = await new KoboldClient(url).check();
    expect(result).toMatchObject({ ok: false, kind: 'not-kobold' });
    if (!result.ok) expect(result.message).toMatch(/answered an HTML page, not JSON: .* is not a KoboldAI API/);
  });

  it('says when the JSON has the wrong shape', async () => {
    const url = await start((req, res) => (req.url === '/api/latest/model' ? json(res, 200, { model: 'x' }) : kobold(req, res, '')));
    const result = await new KoboldClient(url).check();
    expect(result).toMatchObject({ ok: false, kind: 'not-kobold' });
    if (!result.ok) expect(result.message).toMatch(/\/api\/latest\/model answered JSON without a valid "result"/);
  });

  it('says when a limit is not a positive integer', async () => {
    const url = await start((req, res) => (req.url === '/api/latest/config/max_length' ? json(res, 200, { value: 'eighty' }) : kobold(req, res, '')));
    const result = await new KoboldClient(url).check();
    expect(result).toMatchObject({ ok: false, kind: 'not-kobold' });
    if (!result.ok) expect(result.message).toMatch(/max_length answered JSON without a valid "value"/);
  });

  it('says when the API is missing (404, e.g. not the United branch)', async () => {
    const url = await start((_req, res) => json(res, 404, { detail: 'Not Found' }));
    const result = await new KoboldClient(url).check();
    expect(result).toMatchObject({ ok: false, kind: 'not-kobold' });
    if (!result.ok) expect(result.message).toMatch(/answered 404: .* United branch/);
  });

  it('retries a call answered 503 while onBusy says so, and fails as busy when it says no', async () => {
    let calls = 0;
    const url = await start((req, res) => (++calls % 2 === 0 ? json(res, 503, { detail: { msg: 'busy' } }) : kobold(req, res, '')));
    const onBusy = jest.fn(() => Promise.resolve(true));
    await expect(new KoboldClient(url).check(onBusy)).resolves.toMatchObject({ ok: true });
    expect(onBusy).toHaveBeenCalledWith('GET /api/latest/config/max_context_length');
    calls = 0;
    await expect(new KoboldClient(url).check(() => Promise.resolve(false))).resolves.toMatchObject({ ok: false, kind: 'busy' });
  });

  it('gives up after its timeout', async () => {
    const url = await start(() => undefined); // never answers
    const result = await new KoboldClient(url, { checkTimeoutMs: 100 }).check();
    expect(result).toMatchObject({ ok: false, kind: 'unreachable' });
    if (!result.ok) expect(result.message).toContain('ETIMEDOUT');
  });
});

describe('KoboldClient.generate', () => {
  let server: { url: string; close: () => Promise<void> };
  let answer: (res: ServerResponse, body: string) => void;
  beforeAll(async () => {
    server = await serve((_req, res, body) => answer(res, body));
  });
  afterAll(() => server.close());

  it('POSTs the payload as is and returns results[0].text', async () => {
    let received: unknown;
    answer = (res, body) => {
      received = JSON.parse(body);
      json(res, 200, { results: [{ text: ' and lost.' }] });
    };
    const payload = { prompt: 'x', n: 1, max_length: 16, frmttriminc: true };
    await expect(new KoboldClient(server.url).generate(payload)).resolves.toEqual({ ok: true, value: ' and lost.' });
    expect(received).toEqual(payload);
  });

  it.each([
    [503, { detail: { msg: 'Server is busy' } }, 'busy'],
    [422, { detail: { msg: 'max_length: Must be between 1 and 512.' } }, 'rejected'],
    [500, { detail: 'boom' }, 'error'],
    [200, { results: [] }, 'not-kobold'],
    [200, 'not json', 'not-kobold'],
  ])('maps %s %j to %s', async (status, body, kind) => {
    answer = (res) => (typeof body === 'string' ? res.writeHead(status).end(body) : json(res, status, body));
    await expect(new KoboldClient(server.url).generate({ prompt: 'x' })).resolves.toMatchObject({ ok: false, kind });
  });
});
