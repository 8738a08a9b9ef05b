/**
 * Wrong-password floods on a taken server name (issue 11 #1), against the built server with its rate
 * limits on: the real bridge, polling with its right password, gets no 429 while attackers at other
 * addresses flood its name with wrong ones; the attackers are cut off by their own budget, and the log
 * gets one line at once and one summary, never one line per guess. Addresses are told apart by
 * X-Forwarded-For (TRUST_PROXY=true), as behind a reverse proxy.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { JsonAnswer, JsonClient } from './support/json-client';
import { freePort, NodeProcess } from './support/processes';
import { makeDataDir, popBody, removeDataDir } from './support/test-app';

jest.setTimeout(60_000);

const MAIN = join('dist', 'main.js');
const NAME = "Db0's Awesome Instance";
const ATTACKERS = 5;
const BRIDGE_POLLS = 5;

describe('Wrong-password flood on a taken server name (e2e, built server, rate limits on)', () => {
  let server: NodeProcess;
  let dataDir: string;
  let port: number;

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (npm test does it first)`);
    dataDir = makeDataDir();
    port = await freePort();
    server = new NodeProcess('server', MAIN, [], {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      RATE_LIMITS: 'on',
      TRUST_PROXY: 'true',
      LOG_LEVEL: 'log',
      NO_COLOR: '1',
    });
    await server.waitForLine(/listening on/);
  });

  afterAll(async () => {
    await server.stop();
    removeDataDir(dataDir);
  });

  it('never answers the right-password poller 429, limits the guessers, and logs a summary instead of every guess', async () => {
    const bridge = new JsonClient(port);
    const from = (address: string): Record<string, string> => ({ 'x-forwarded-for': address });
    const body = popBody(NAME, { username: 'db0', password: 'correct horse battery staple' });
    expect((await bridge.request('POST', '/generate/pop', body, from('192.0.2.1'))).status).toBe(200);

    // The bridge polls at its usual pace (under RATE_LIMIT_POP_PER_SECOND = 2) while the flood goes on.
    let flooding = true;
    const bridgeAnswers: number[] = [];
    const poller = (async () => {
      for (let i = 0; i < BRIDGE_POLLS; i++) {
        await new Promise((resolve) => setTimeout(resolve, 550));
        bridgeAnswers.push((await bridge.request('POST', '/generate/pop', body, from('192.0.2.1'))).status);
      }
      flooding = false;
    })();
    const attackerAnswers: JsonAnswer[] = [];
    await Promise.all(
      Array.from({ length: ATTACKERS }, async (_, a) => {
        const attacker = new JsonClient(port);
        for (let i = 0; flooding; i++) {
          attackerAnswers.push(await attacker.request('POST', '/generate/pop', { ...body, username: 'mallory', password: `guess-${a}-${i}` }, from(`198.51.100.${a + 1}`)));
        }
        attacker.close();
      }),
    );
    await poller;
    bridge.close();

    expect(bridgeAnswers.filter((status) => status !== 200)).toEqual([]);
    const wrong = attackerAnswers.filter((a) => a.status === 401);
    const refused = attackerAnswers.filter((a) => a.status === 429);
    expect(wrong.length + refused.length).toBe(attackerAnswers.length);
    // RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE (30) guesses in all, at most 10 per address.
    expect(wrong).toHaveLength(30);
    for (const answer of refused) expect(answer.json).toEqual({ statusCode: 429, error: 'Too Many Requests', message: expect.stringMatching(/^Too many wrong passwords (from your address|for server name)/) });

    const logged = (): string[] => server.lines.filter((line) => /wrong password/i.test(line));
    expect(logged()).toHaveLength(1);
    expect(logged()[0]).toMatch(/WARN .*Wrong password for server name "Db0's Awesome Instance" from 198\.51\.100\.\d/);
    expect(server.output).not.toMatch(/guess-\d/);

    // The summary of the minute is logged when it ends, or at shutdown.
    server.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(logged()).toHaveLength(2);
    expect(logged()[1]).toMatch(
      new RegExp(`Server name "Db0's Awesome Instance": 29 more wrong password\\(s\\) and ${refused.length} guess\\(es\\) refused by the limit in the minute after the first, from (198\\.51\\.100\\.\\d(, )?){5}$`),
    );
    console.log(
      `Wrong-password flood: the right-password bridge got ${bridgeAnswers.length} of ${bridgeAnswers.length} pops answered 200 during the flood; ` +
        `${ATTACKERS} attacker addresses sent ${attackerAnswers.length} guesses: ${wrong.length} checked (401), ${refused.length} refused with 429; 2 log lines`,
    );
  });
});
