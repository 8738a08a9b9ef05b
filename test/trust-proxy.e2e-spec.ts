import { request as httpRequest } from 'node:http';
import { AddressInfo } from 'node:net';
import { removeDataDir, startTestApp, TestApp, useTestApp } from './support/test-app';

/**
 * TRUST_PROXY with real sockets from two loopback addresses: 127.0.0.1 plays the reverse proxy, 127.0.0.2
 * a client that connects directly (supertest cannot choose the source address; node:http can, with
 * `localAddress`). The create limit is 3 a minute per client address.
 */

const LIMIT = 3;

function create(t: TestApp, from: string, forwardedFor?: string): Promise<number> {
  const port = (t.app.getHttpServer().address() as AddressInfo).port;
  const body = JSON.stringify({ prompt: 'p' });
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        localAddress: from,
        method: 'POST',
        path: '/generate/prompt',
        agent: false,
        headers: { 'content-type': 'application/json', ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function statuses(count: number, send: (i: number) => Promise<number>): Promise<number[]> {
  const result: number[] = [];
  for (let i = 0; i < count; i++) result.push(await send(i));
  return result;
}

describe('TRUST_PROXY naming the reverse proxy (e2e, real sockets)', () => {
  const t = useTestApp({ RATE_LIMITS: 'on', RATE_LIMIT_CREATE_PER_MINUTE: LIMIT, TRUST_PROXY: '127.0.0.1' });

  it('ignores X-Forwarded-For from a client that connects directly: a fresh address per request escapes nothing', async () => {
    const result = await statuses(6, (i) => create(t, '127.0.0.2', `198.51.100.${i + 1}`));
    expect(result).toEqual([200, 200, 200, 429, 429, 429]);
  });

  it('limits requests through the trusted proxy by the forwarded address, each client on its own', async () => {
    expect(await statuses(4, () => create(t, '127.0.0.1', '203.0.113.7'))).toEqual([200, 200, 200, 429]);
    // Another client behind the same proxy has its own budget...
    expect(await statuses(4, () => create(t, '127.0.0.1', '203.0.113.8'))).toEqual([200, 200, 200, 429]);
    // ...and a client that prepends a fake address is still seen as the address the proxy saw.
    expect(await create(t, '127.0.0.1', '10.9.9.9, 203.0.113.7')).toBe(429);
  });
});

describe('TRUST_PROXY=true (e2e, real sockets)', () => {
  it('trusts every hop, so a direct client picks its own address: why the README advises against it', async () => {
    const t = await startTestApp({ RATE_LIMITS: 'on', RATE_LIMIT_CREATE_PER_MINUTE: LIMIT, TRUST_PROXY: 'true' });
    try {
      const result = await statuses(6, (i) => create(t, '127.0.0.2', `198.51.100.${i + 1}`));
      expect(result).toEqual([200, 200, 200, 200, 200, 200]);
    } finally {
      await t.close();
      removeDataDir(t.dataDir);
    }
  });
});
