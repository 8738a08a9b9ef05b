import { fillerText, KaiSimulator } from './kai-simulator';

async function start(options: Partial<ConstructorParameters<typeof KaiSimulator>[0]> = {}) {
  const sim = new KaiSimulator({ model: 'sim/test', maxLength: 80, maxContextLength: 1024, delayMs: 0, failEvery: 0, ...options });
  const { port } = await sim.listen(0, '127.0.0.1');
  return { sim, url: `http://127.0.0.1:${port}` };
}

const generate = (url: string, body: unknown) => fetch(`${url}/api/latest/generate`, { method: 'POST', body: JSON.stringify(body) });

describe('fillerText', () => {
  it('is deterministic, depends on the prompt length and respects max_length', () => {
    expect(fillerText(10, 80)).toBe(fillerText(10, 80));
    expect(fillerText(10, 80)).not.toBe(fillerText(11, 80));
    expect(fillerText(9, 3).trim().split(' ')).toHaveLength(3);
  });
});

describe('KaiSimulator', () => {
  it('serves the model, the limits and generations under /api/latest and /api/v1', async () => {
    const { sim, url } = await start();
    try {
      expect(await (await fetch(`${url}/api/latest/model`)).json()).toEqual({ result: 'sim/test' });
      expect(await (await fetch(`${url}/api/v1/config/max_length`)).json()).toEqual({ value: 80 });
      expect(await (await fetch(`${url}/api/latest/config/max_context_length`)).json()).toEqual({ value: 1024 });
      const response = await generate(url, { prompt: 'Hello there', max_length: 5, n: 1 });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ results: [{ text: fillerText('Hello there'.length, 5) }] });
      expect((await generate(url, { max_length: 5 })).status).toBe(422);
      expect((await fetch(`${url}/api/latest/nope`)).status).toBe(404);
    } finally {
      await sim.close();
    }
  });

  it('answers 503 to a generation while another runs, like KoboldAI', async () => {
    const { sim, url } = await start({ delayMs: 300 });
    try {
      const first = generate(url, { prompt: 'a' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await generate(url, { prompt: 'b' })).status).toBe(503);
      expect((await first).status).toBe(200);
      expect((await generate(url, { prompt: 'c' })).status).toBe(200);
    } finally {
      await sim.close();
    }
  });

  it('--fail-every N answers 503 to every Nth call', async () => {
    const { sim, url } = await start({ failEvery: 2 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await fetch(`${url}/api/latest/model`)).status);
      expect(statuses).toEqual([200, 503, 200, 503]);
    } finally {
      await sim.close();
    }
  });
});
