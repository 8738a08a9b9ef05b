import { ReplyError } from 'ioredis';
import { AddressInfo, createServer } from 'node:net';
import { waitFor } from '../../../test/support/processes';
import { TestRedisServer, useTestRedis } from '../../../test/support/redis-server';
import {
  isRedisUnavailable,
  LIBRARY_UNUSED_AFTER_MS,
  LuaLibrary,
  LuaScript,
  redisVersionProblem,
  REDIS_COMMAND_TIMEOUT_MS,
  REDIS_READINESS_TIMEOUT_MS,
  REDIS_STARTUP_WAIT_MS,
  RedisConnection,
  SharedStoreUnavailableException,
} from './redis-connection';

const RedisReplyError = ReplyError as new (message: string) => Error;
const COUNTER = new LuaScript('testCounterAdd', 1, "return redis.call('INCRBY', KEYS[1], ARGV[1])");

describe('RedisConnection (against a real redis-server)', () => {
  const testRedis = useTestRedis();
  let redis: TestRedisServer;
  let connection: RedisConnection;

  beforeEach(async () => {
    redis = testRedis.server;
    connection = testRedis.connection;
    await waitFor('the connection to be ready', () => Promise.resolve(connection.client.status === 'ready'));
    await testRedis.flush();
  });

  const timed = async (promise: Promise<unknown>): Promise<{ ms: number; error: unknown }> => {
    const start = Date.now();
    try {
      await promise;
      return { ms: Date.now() - start, error: undefined };
    } catch (error) {
      return { ms: Date.now() - start, error };
    }
  };

  it('runs commands and scripts on keys under the {kc} hash tag, also after Redis forgot the script', async () => {
    expect(connection.key('users', 'usage')).toBe('{kc}:users:usage');
    await expect(connection.runScript(COUNTER, [connection.key('n')], [2])).resolves.toBe(2);
    await connection.run((client) => client.script('FLUSH'));
    await expect(connection.runScript(COUNTER, [connection.key('n')], [3])).resolves.toBe(5);
    expect(redis.cli('GET', '{kc}:n')).toBe('5');
    await expect(connection.readinessProblem()).resolves.toBeNull();
  });

  it('runs scripts first used in the same turn of the event loop, each once, in one automatic pipeline', async () => {
    // With ioredis's defineCommand, a script defined after the turn's pipeline was made failed ("pipeline[name] is not a function").
    const scripts = Array.from({ length: 5 }, (_, i) => new LuaScript(`kcTestFirstUse${i}`, 1, `return redis.call('INCRBY', KEYS[1], ${i + 1})`));
    await connection.run((client) => client.script('FLUSH'));
    const answers = await Promise.all(scripts.flatMap((script) => [1, 2, 3].map(() => connection.runScript(script, [connection.key('first-use')]))));
    expect(answers).toHaveLength(15);
    expect(redis.cli('GET', '{kc}:first-use')).toBe(String(3 * (1 + 2 + 3 + 4 + 5)));
  });

  describe('Lua libraries (FUNCTION LOAD, FCALL)', () => {
    function counterLibrary(step: number): { library: LuaLibrary; add: ReturnType<LuaLibrary['define']>; calls: ReturnType<LuaLibrary['define']> } {
      // The prelude runs once per load: 'loads' counts loads, 'calls' counts calls in an upvalue.
      const library = new LuaLibrary('kctest', 1, `local calls = 0\nlocal STEP = ${step}\nlocal function bump() calls = calls + 1 end`);
      const add = library.define('add', "bump()\nreturn redis.call('INCRBY', KEYS[1], ARGV[1] * STEP)");
      const calls = library.define('calls', 'return calls');
      return { library, add, calls };
    }

    it('loads the library on first use, runs its shared code once, and loads it again when Redis lost it', async () => {
      const { add, calls } = counterLibrary(1);
      const key = connection.key('lib-n');
      await expect(connection.runFunction(add, [key], [2])).resolves.toBe(2);
      await expect(connection.runFunction(add, [key], [3])).resolves.toBe(5);
      // The prelude's state lives on between calls: it ran once, at load.
      await expect(connection.runFunction(calls, [key])).resolves.toBe(2);
      expect(redis.cli('FUNCTION', 'LIST', 'LIBRARYNAME', 'kctest_*')).toContain(`kctest_${add.library.version}`);
      await connection.run((client) => client.function('FLUSH'));
      await expect(connection.runFunction(add, [key], [4])).resolves.toBe(9);
      await expect(connection.runFunction(calls, [key])).resolves.toBe(1);
    });

    it('loads it once for calls that miss it together, and lets two builds of one library live side by side', async () => {
      const one = counterLibrary(1);
      const ten = counterLibrary(10);
      expect(one.library.version).not.toBe(ten.library.version);
      const key = connection.key('lib-both');
      redis.cli('FUNCTION', 'FLUSH');
      redis.cli('CONFIG', 'RESETSTAT');
      const answers = await Promise.all([1, 2, 3, 4].flatMap(() => [connection.runFunction(one.add, [key], [1]), connection.runFunction(ten.add, [key], [1])]));
      expect(answers).toHaveLength(8);
      expect(redis.cli('GET', '{kc}:lib-both')).toBe(String(4 * 1 + 4 * 10));
      expect(redis.cli('INFO', 'commandstats')).toMatch(/^cmdstat_function\|load:calls=2,/m);
      await expect(connection.runFunction(one.calls, [key])).resolves.toBe(4);
      // Another connection (another instance) with the same build finds the library there.
      const other = await testRedis.connect();
      await expect(other.runFunction(one.add, [key], [1])).resolves.toBe(45);
      await expect(other.runFunction(one.calls, [key])).resolves.toBe(5);
    });

    it("deletes other builds' versions of a library unused for ten minutes, never its own; a deleted one loads again on its next call", async () => {
      redis.cli('FUNCTION', 'FLUSH');
      const [one, ten] = [counterLibrary(1), counterLibrary(10)];
      const key = connection.key('lib-keep');
      const start = Date.now();
      await connection.runFunction(one.add, [key], [1]);
      await connection.runFunction(ten.add, [key], [1]);
      // Each build's first call writes, in the background, that its version is in use.
      const inUse = async (): Promise<string[]> => Object.keys(await connection.run((client) => client.hgetall(connection.key('libraries', 'kctest')))).sort();
      await waitFor('both versions to be written as in use', async () => (await inUse()).length === 2);
      const [oneName, tenName] = [`kctest_${one.library.version}`, `kctest_${ten.library.version}`];
      await expect(connection.keepLibrary(one.library, start + LIBRARY_UNUSED_AFTER_MS - 1_000)).resolves.toEqual([]);
      await expect(connection.keepLibrary(one.library, Date.now() + LIBRARY_UNUSED_AFTER_MS + 1_000)).resolves.toEqual([tenName]);
      const listed = redis.cli('FUNCTION', 'LIST', 'LIBRARYNAME', 'kctest_*');
      expect(listed).toContain(oneName);
      expect(listed).not.toContain(tenName);
      await expect(inUse()).resolves.toEqual([oneName]);
      // An instance of the other build, idle all that time, calls again: its version is loaded again.
      await expect(connection.runFunction(ten.add, [key], [1])).resolves.toBe(1 + 10 + 10);
    });

    it('rethrows an error of the function as a bug (a 500), not as an outage or a missing library, and refuses late definitions', async () => {
      const { library, add } = counterLibrary(1);
      await connection.run((client) => client.set(connection.key('lib-s'), 'text'));
      const { error } = await timed(connection.runFunction(add, [connection.key('lib-s')], [1]));
      expect(error).toBeInstanceOf(RedisReplyError);
      expect(error).not.toBeInstanceOf(SharedStoreUnavailableException);
      expect(() => library.define('late', 'return 1')).toThrow(/complete/);
      expect(() => connection.runFunction(add, [], [1])).toThrow(/takes 1 keys, got 0/);
    });
  });

  it('rethrows an error reply that is a bug of ours as is (a 500), not as an outage', async () => {
    await connection.run((client) => client.set(connection.key('s'), 'text'));
    const { error } = await timed(connection.runScript(COUNTER, [connection.key('s')], [1]));
    expect(error).toBeInstanceOf(RedisReplyError);
    expect(error).not.toBeInstanceOf(SharedStoreUnavailableException);
  });

  it('refuses a Redis older than 7.0 with a message that says so (the store runs Redis functions), and accepts this one', () => {
    expect(redisVersionProblem('# Server\r\nredis_version:6.2.14\r\nredis_mode:standalone\r\n')).toBe(
      'The shared store is Redis 6.2.14; this cluster needs Redis 7.0 or later (its Lua runs as Redis functions)',
    );
    expect(redisVersionProblem('# Server\r\nredis_version:7.0.15\r\n')).toBeNull();
    expect(redisVersionProblem('# Server\r\nredis_version:10.0.0\r\n')).toBeNull();
    expect(redisVersionProblem(redis.cli('INFO', 'server'))).toBeNull();
  });

  it('answers 503 saying why, and fails readiness, while connected to a Redis older than 7.0', async () => {
    // Debian 12 has no Redis 6 to run: a stand-in that answers the connection's CLIENT SETNAME and INFO as Redis 6.2 would.
    const info = '# Server\r\nredis_version:6.2.14\r\nloading:0\r\n';
    const old = createServer((socket) => {
      socket.on('data', (data) => {
        for (const command of data.toString().split('*').slice(1)) {
          socket.write(/\r\ninfo\r\n/i.test(command) ? `$${Buffer.byteLength(info)}\r\n${info}\r\n` : '+OK\r\n');
        }
      });
    });
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve));
    const connection = new RedisConnection(`redis://127.0.0.1:${(old.address() as AddressInfo).port}`);
    try {
      await connection.onModuleInit();
      const message = 'The shared store is Redis 6.2.14; this cluster needs Redis 7.0 or later (its Lua runs as Redis functions)';
      await waitFor('the version to be read', async () => (await connection.readinessProblem()) === message);
      const { error } = await timed(connection.run((client) => client.get('x')));
      expect(error).toBeInstanceOf(SharedStoreUnavailableException);
      expect((error as Error).message).toBe(message);
    } finally {
      connection.client.disconnect();
      old.close();
    }
  });

  it('tells availability replies (loading, busy, failover, out of memory) from bugs', () => {
    expect(isRedisUnavailable(new RedisReplyError('LOADING Redis is loading the dataset in memory'))).toBe(true);
    expect(isRedisUnavailable(new RedisReplyError('BUSY Redis is busy running a script'))).toBe(true);
    expect(isRedisUnavailable(new RedisReplyError("OOM command not allowed when used memory > 'maxmemory'"))).toBe(true);
    expect(isRedisUnavailable(new RedisReplyError('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(false);
    expect(isRedisUnavailable(new Error('Command timed out'))).toBe(true);
  });

  it('fails fast while Redis is down (503 error, no queue), reports it for readiness, and resumes by itself', async () => {
    await redis.kill();
    await waitFor('the client to notice', () => Promise.resolve(connection.client.status !== 'ready'));
    const down = await timed(connection.run((client) => client.incr(connection.key('n'))));
    expect(down.error).toBeInstanceOf(SharedStoreUnavailableException);
    expect((down.error as Error).message).toBe('The shared store (Redis) is unreachable: try again in a moment');
    expect(down.ms).toBeLessThan(100);
    await expect(connection.readinessProblem()).resolves.toMatch(/^the shared store \(Redis\) at unix socket .* is unreachable: /);

    await redis.restart();
    await waitFor('the client to reconnect by itself', () => Promise.resolve(connection.client.status === 'ready'), 5_000);
    await expect(connection.run((client) => client.incr(connection.key('n')))).resolves.toBe(1);
    await expect(connection.readinessProblem()).resolves.toBeNull();
  });

  it('delivers messages published on a channel through a dedicated connection, also after Redis restarted', async () => {
    const channel = connection.key('test-channel');
    const received: string[] = [];
    let heard: () => void = () => undefined;
    const subscribed = connection.subscribe(channel, (message) => {
      received.push(message);
      heard();
    });
    await subscribed;
    const next = (): Promise<void> => new Promise((resolve) => (heard = resolve));
    // The main connection still runs commands while the other one is subscribed.
    let message = next();
    await connection.run((client) => client.publish(channel, 'one'));
    await message;
    await redis.kill();
    await redis.restart();
    await waitFor('the subscription to be made again', async () => {
      if (connection.client.status !== 'ready') return false;
      const [, count] = (await connection.run((client) => client.pubsub('NUMSUB', channel))) as [string, number];
      return count === 1;
    }, 5_000);
    message = next();
    await connection.run((client) => client.publish(channel, 'two'));
    await message;
    expect(received).toEqual(['one', 'two']);
  });

  it('never hangs on a hung Redis (connection open, no answer): commands fail after the command timeout, readiness after its own', async () => {
    redis.pause();
    try {
      const hung = await timed(connection.run((client) => client.get(connection.key('n'))));
      expect(hung.error).toBeInstanceOf(SharedStoreUnavailableException);
      expect(hung.ms).toBeGreaterThanOrEqual(REDIS_COMMAND_TIMEOUT_MS - 50);
      expect(hung.ms).toBeLessThan(REDIS_COMMAND_TIMEOUT_MS + 500);
      const start = Date.now();
      await expect(connection.readinessProblem()).resolves.toMatch(/no answer to PING within 500 ms/);
      expect(Date.now() - start).toBeLessThan(REDIS_READINESS_TIMEOUT_MS + 300);
    } finally {
      redis.resume();
    }
    await expect(connection.run((client) => client.incr(connection.key('n')))).resolves.toBe(1);
  });

  it('starts without Redis after a bounded wait, and connects by itself when Redis comes', async () => {
    await redis.kill();
    const late = new RedisConnection(redis.socketUrl);
    try {
      const begun = Date.now();
      await late.onModuleInit();
      expect(Date.now() - begun).toBeGreaterThanOrEqual(REDIS_STARTUP_WAIT_MS - 50);
      expect(Date.now() - begun).toBeLessThan(REDIS_STARTUP_WAIT_MS + 500);
      await expect(late.readinessProblem()).resolves.toMatch(/is unreachable/);
      await redis.restart();
      await expect(late.whenReady(5_000)).resolves.toBe(true);
      await expect(late.run((client) => client.ping())).resolves.toBe('PONG');
    } finally {
      await late.onApplicationShutdown();
    }
  });
});
