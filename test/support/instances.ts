import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonAnswer, JsonClient } from './json-client';
import { freePort, NodeProcess } from './processes';

const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');

/** One `node dist/main.js` of a multi-instance test, with a keep-alive JSON client of its own. */
export class ClusterInstance {
  private constructor(
    readonly label: string,
    readonly port: number,
    readonly process: NodeProcess,
    readonly client: JsonClient,
    private readonly dataDir: string,
  ) {}

  /**
   * Starts the built server (made by `npm test`'s pretest build) on a free port, a DATA_DIR of its own and
   * `env` (REDIS_URL among it), and resolves once it listens.
   */
  static async start(label: string, env: Record<string, string>, maxSockets = 16): Promise<ClusterInstance> {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npm run build\` (npm test does it first)`);
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'kc-instance-'));
    const child = new NodeProcess(label, 'dist/main.js', [], {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      RATE_LIMITS: 'off',
      LOG_LEVEL: 'log',
      NO_COLOR: '1',
      ...env,
    });
    const instance = new ClusterInstance(label, port, child, new JsonClient(port, 30_000, maxSockets), dataDir);
    try {
      await child.waitForLine(/listening on/, 20_000);
    } catch (error) {
      await instance.kill();
      throw error;
    }
    return instance;
  }

  request(method: string, path: string, body?: unknown): Promise<JsonAnswer> {
    return this.client.request(method, path, body);
  }

  /** SIGKILL (kill -9): no shutdown of any kind. */
  async kill(): Promise<void> {
    this.client.close();
    await this.process.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** A bridge.py-shaped pop body for worker `name`. */
export function workerPop(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { username: `${name}-owner`, password: `${name}-password`, name, model: 'KoboldAI/fairseq-dense-13B-Nerys-v2', max_length: 80, max_content_length: 1024, ...overrides };
}

/** Fails the test with the answer when its status is not `status`. */
export function expectStatus(answer: JsonAnswer, status: number, what: string): JsonAnswer {
  if (answer.status !== status) throw new Error(`${what}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.json)}`);
  return answer;
}

export const sum = (values: Iterable<number>): number => [...values].reduce((a, b) => a + b, 0);
