import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisConnection } from '../../src/common/redis/redis-connection';
import { freePort, waitFor } from './processes';

/** Debian's redis-server (installed by test/support/install-test-tools.sh when it is missing). */
export const REDIS_SERVER_BINARY = process.env.REDIS_SERVER_BINARY ?? '/usr/bin/redis-server';

export interface RedisServerOptions {
  /** Listen on a free TCP port on 127.0.0.1 as well as on the unix socket (never 6379). Default: socket only. */
  tcp?: boolean;
  /** Keep data across restarts (AOF, fsync every second) instead of `--save "" --appendonly no`. */
  persistence?: boolean;
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
}

/**
 * A private `redis-server` for one test file: its own temporary directory, a unix socket in it (and a
 * free TCP port when asked), no persistence unless asked. Stop it in `afterAll`; it is also killed, and
 * its directory removed, when the test process exits, whatever the outcome of the tests.
 */
export class TestRedisServer {
  readonly dir: string;
  readonly socketPath: string;
  private child: ChildProcess | undefined;
  private port: number | undefined;
  private readonly lines: string[] = [];
  private readonly cleanupOnExit = (): void => this.killNowAndClean();

  private constructor(private readonly options: RedisServerOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'kc-redis-'));
    this.socketPath = join(this.dir, 'redis.sock');
    process.once('exit', this.cleanupOnExit);
  }

  /** Starts a server and resolves once it answers PING. */
  static async start(options: RedisServerOptions = {}): Promise<TestRedisServer> {
    if (!existsSync(REDIS_SERVER_BINARY)) {
      throw new Error(`${REDIS_SERVER_BINARY} is missing: run "bash test/support/install-test-tools.sh" (Debian package redis-server)`);
    }
    const server = new TestRedisServer(options);
    try {
      if (options.tcp) server.port = await freePort();
      await server.launch();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** `unix:///…/redis.sock`, the form REDIS_URL accepts for a unix socket. */
  get socketUrl(): string {
    return `unix://${this.socketPath}`;
  }

  /** `redis://127.0.0.1:PORT` (only with `tcp: true`). */
  get tcpUrl(): string {
    if (this.port === undefined) throw new Error('This test Redis listens on its unix socket only: start it with { tcp: true }');
    return `redis://127.0.0.1:${this.port}`;
  }

  get tcpPort(): number | undefined {
    return this.port;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Suspends the process (SIGSTOP): connections stay open but nothing answers, like a hung or partitioned Redis. */
  pause(): void {
    this.signal('SIGSTOP');
  }

  /** Resumes a paused server (SIGCONT). */
  resume(): void {
    this.signal('SIGCONT');
  }

  /** Kills the process (SIGKILL): connections are refused until `restart()`. Data not persisted is lost. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Waited for, the child keeps this process alive (it is unref'd): a process with nothing else to do
    // (a bench script) would otherwise end here, silently, with exit code 0.
    child.ref();
    child.kill('SIGKILL');
    await exited;
  }

  /** Starts the server again on the same socket, port and directory (after `kill()`). */
  async restart(): Promise<void> {
    if (this.running) await this.kill();
    await this.launch();
  }

  /** Runs one command with `redis-cli` against this server (for inspection in tests), e.g. `cli('DBSIZE')`. */
  cli(...args: string[]): string {
    const result = spawnSync('redis-cli', ['-s', this.socketPath, ...args], { encoding: 'utf8', timeout: 5_000 });
    if (result.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${result.stderr || result.error?.message}`);
    return result.stdout.trim();
  }

  /** Stops the server (SIGKILL after resuming it if paused) and removes its directory. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.running) {
      this.resume();
      await this.kill();
    }
    this.removeDir();
    process.off('exit', this.cleanupOnExit);
  }

  private async launch(): Promise<void> {
    const persistence = this.options.persistence
      ? ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '']
      : ['--save', '', '--appendonly', 'no'];
    const args = [
      '--port', String(this.port ?? 0),
      '--bind', '127.0.0.1',
      '--unixsocket', this.socketPath,
      '--unixsocketperm', '700',
      '--dir', this.dir,
      '--daemonize', 'no',
      '--loglevel', 'warning',
      '--protected-mode', 'yes',
      ...persistence,
      ...(this.options.args ?? []),
    ];
    this.lines.length = 0;
    const child = spawn(REDIS_SERVER_BINARY, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    // A server nobody stopped must not keep the test process alive: it is killed at the process's exit.
    child.unref();
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => this.lines.push(...chunk.split('\n').filter(Boolean)));
      (stream as { unref?: () => void } | null)?.unref?.();
    }
    const exitedEarly = new Promise<never>((_resolve, reject) =>
      child.once('exit', (code, signal) => reject(new Error(`redis-server exited (${code ?? signal}) before answering PING:\n${this.lines.join('\n')}`))),
    );
    exitedEarly.catch(() => undefined);
    await Promise.race([waitFor('redis-server to answer PING', () => this.ping(), 10_000, 20), exitedEarly]);
  }

  /** Sends a raw PING on the unix socket; true on +PONG. */
  private ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = createConnection(this.socketPath);
      const done = (ok: boolean): void => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(500, () => done(false));
      socket.once('error', () => done(false));
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
    });
  }

  private signal(signal: NodeJS.Signals): void {
    if (!this.running) throw new Error(`redis-server is not running (cannot send ${signal})`);
    this.child?.kill(signal);
  }

  private killNowAndClean(): void {
    if (this.running) {
      this.child?.kill('SIGCONT');
      this.child?.kill('SIGKILL');
    }
    this.removeDir();
  }

  private removeDir(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A RedisConnection to `url`, once it is ready (it refuses commands before: no offline queue). Close it with onApplicationShutdown(). */
export async function connectToRedis(url: string): Promise<RedisConnection> {
  const connection = new RedisConnection(url);
  if (!(await connection.whenReady(5_000))) throw new Error(`No Redis connection to ${url} within 5 s`);
  return connection;
}

export interface TestRedis {
  /** The private server (started in beforeAll). */
  readonly server: TestRedisServer;
  /** A ready connection to it (opened in beforeAll). */
  readonly connection: RedisConnection;
  /** Empties the server (FLUSHDB) and answers the connection: for a fresh store per test. */
  flush(): Promise<RedisConnection>;
  /** Another ready connection (another instance), closed in afterAll. */
  connect(): Promise<RedisConnection>;
}

/**
 * For a test file (or describe block): starts a private redis-server and a connection to it before its
 * tests, and closes them (and any `connect()`ed ones) after, whatever the outcome.
 */
export function useTestRedis(options: RedisServerOptions = {}): TestRedis {
  let server: TestRedisServer | undefined;
  const connections: RedisConnection[] = [];
  const started = (): TestRedisServer => {
    if (!server) throw new Error('useTestRedis: the server starts in beforeAll; use it from a test or hook');
    return server;
  };
  const handle: TestRedis = {
    get server() {
      return started();
    },
    get connection() {
      started();
      return connections[0];
    },
    flush: async () => {
      await connections[0].run((client) => client.flushdb());
      return connections[0];
    },
    connect: async () => {
      const connection = await connectToRedis(started().socketUrl);
      connections.push(connection);
      return connection;
    },
  };
  beforeAll(async () => {
    server = await TestRedisServer.start(options);
    await handle.connect();
  });
  afterAll(async () => {
    await Promise.all(connections.splice(0).map((c) => c.onApplicationShutdown()));
    await server?.stop();
  });
  return handle;
}
