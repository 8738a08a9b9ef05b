import { DEFAULTS, normalizeArgv, parseBridgeOptions } from './bridge-options';

const REQUIRED = ['-u', 'alice', '-p', 'pw-flag', '-n', 'Box'];
const noFile = (path: string): string => {
  throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
};

function run(args: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  return parseBridgeOptions(args, env, (path) => (path in files ? files[path] : noFile(path)));
}

function options(args: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  const outcome = run(args, env, files);
  if (outcome.kind !== 'run') throw new Error(`expected options, got exit ${outcome.code}: ${outcome.output}`);
  return outcome.options;
}

describe('parseBridgeOptions: flags', () => {
  it('reads the short flags of bridge.py and fills in the defaults', () => {
    expect(options([...REQUIRED])).toEqual({
      username: 'alice',
      password: 'pw-flag',
      kaiName: 'Box',
      kaiUrl: DEFAULTS.kaiUrl,
      clusterUrl: DEFAULTS.clusterUrl,
      interval: 1,
      priorityUsernames: [],
      logLevel: 'info',
      maxBackoff: 30,
    });
  });

  it('reads the long dashed flags', () => {
    const o = options([
      '--username', 'bob', '--password', 'x', '--kai-name', 'My Box', '--kai-url', 'http://kai:5000/',
      '--cluster-url', 'https://cluster.example', '--interval', '0.5', '--priority-usernames', 'a', '--priority-usernames', 'b',
      '--max-backoff', '2', '--verbose',
    ]);
    expect(o).toMatchObject({
      username: 'bob',
      kaiName: 'My Box',
      kaiUrl: 'http://kai:5000',
      clusterUrl: 'https://cluster.example',
      interval: 0.5,
      priorityUsernames: ['a', 'b'],
      maxBackoff: 2,
      logLevel: 'verbose',
    });
  });

  it("accepts bridge.py's underscore spellings, also with =", () => {
    const o = options([
      '-u', 'u', '-p', 'p', '--kai_name', 'Under', '--kai_url=http://k:1', '--cluster_url', 'http://c:2',
      '--priority_usernames', 'x', '--priority_usernames=y',
    ]);
    expect(o).toMatchObject({ kaiName: 'Under', kaiUrl: 'http://k:1', clusterUrl: 'http://c:2', priorityUsernames: ['x', 'y'] });
  });

  it('leaves arguments after -- alone', () => {
    expect(normalizeArgv(['--kai_name', 'a', '--', '--kai_name'])).toEqual(['--kai-name', 'a', '--', '--kai_name']);
  });

  it('-q is quiet; -v and -q together are refused', () => {
    expect(options([...REQUIRED, '-q']).logLevel).toBe('quiet');
    const outcome = run([...REQUIRED, '-v', '-q']);
    expect(outcome).toMatchObject({ kind: 'exit', code: 2 });
  });

  it('-h prints the help, with every flag, and exits 0', () => {
    const outcome = run(['-h']);
    expect(outcome.kind).toBe('exit');
    if (outcome.kind !== 'exit') return;
    expect(outcome.code).toBe(0);
    for (const flag of ['--interval', '--username', '--password', '--kai-name', '--kai-url', '--cluster-url', '--priority-usernames', '--verbose', '--quiet', '--kai_name', 'BRIDGE_PASSWORD']) {
      expect(outcome.output).toContain(flag);
    }
  });

  it.each([
    [['-i', 'abc'], /interval/],
    [['-i', '0'], /interval/],
    [['-i', '-1'], /interval/],
    [['-k', 'localhost:5000'], /must start with http/],
    [['-c', 'not a url'], /not a URL/],
    [['--bogus'], /unknown option/],
    [['extra'], /too many arguments|excess/],
  ])('refuses %j with exit code 2', (extra, message) => {
    const outcome = run([...REQUIRED, ...extra]);
    expect(outcome).toMatchObject({ kind: 'exit', code: 2 });
    if (outcome.kind === 'exit') expect(outcome.output).toMatch(message);
  });

  it('names every missing required setting, and never prints the password', () => {
    const outcome = run(['-p', 'hunter2-secret']);
    expect(outcome).toMatchObject({ kind: 'exit', code: 2 });
    if (outcome.kind !== 'exit') return;
    expect(outcome.output).toMatch(/--username.*--kai-name/);
    expect(outcome.output).not.toContain('hunter2-secret');
  });
});

describe('parseBridgeOptions: precedence flags > environment > file > defaults', () => {
  const file = JSON.stringify({
    username: 'file-user',
    password: 'file-pw',
    kai_name: 'File Box',
    kai_url: 'http://file-kai:5000',
    cluster_url: 'http://file-cluster:5001',
    interval: 3,
    priority_usernames: ['f1', 'f2'],
    log_level: 'verbose',
    max_backoff: 9,
  });
  const files = { 'bridge.json': file };

  it('takes everything from the file when nothing else is given', () => {
    expect(options(['--config', 'bridge.json'], {}, files)).toEqual({
      username: 'file-user',
      password: 'file-pw',
      kaiName: 'File Box',
      kaiUrl: 'http://file-kai:5000',
      clusterUrl: 'http://file-cluster:5001',
      interval: 3,
      priorityUsernames: ['f1', 'f2'],
      logLevel: 'verbose',
      maxBackoff: 9,
    });
  });

  it('environment beats the file', () => {
    const env = {
      BRIDGE_USERNAME: 'env-user',
      BRIDGE_PASSWORD: 'env-pw',
      BRIDGE_KAI_NAME: 'Env Box',
      BRIDGE_KAI_URL: 'http://env-kai:5000',
      BRIDGE_CLUSTER_URL: 'http://env-cluster:5001',
      BRIDGE_INTERVAL: '2',
      BRIDGE_PRIORITY_USERNAMES: 'e1, e2',
      BRIDGE_LOG_LEVEL: 'quiet',
      BRIDGE_MAX_BACKOFF: '4',
      BRIDGE_CONFIG: 'bridge.json',
    };
    expect(options([], env, files)).toEqual({
      username: 'env-user',
      password: 'env-pw',
      kaiName: 'Env Box',
      kaiUrl: 'http://env-kai:5000',
      clusterUrl: 'http://env-cluster:5001',
      interval: 2,
      priorityUsernames: ['e1', 'e2'],
      logLevel: 'quiet',
      maxBackoff: 4,
    });
  });

  it('flags beat the environment and the file, setting by setting', () => {
    const env = { BRIDGE_USERNAME: 'env-user', BRIDGE_KAI_NAME: 'Env Box', BRIDGE_INTERVAL: '2' };
    const o = options(['--config', 'bridge.json', '-n', 'Flag Box', '--priority_usernames', 'p1', '-q'], env, files);
    expect(o).toMatchObject({
      kaiName: 'Flag Box', // flag
      username: 'env-user', // environment
      password: 'file-pw', // file
      interval: 2, // environment
      priorityUsernames: ['p1'], // flag replaces the file's list
      logLevel: 'quiet', // flag
      maxBackoff: 9, // file
    });
  });

  it('--config beats BRIDGE_CONFIG; empty variables count as unset', () => {
    const o = options(['--config', 'b.json'], { BRIDGE_CONFIG: 'bridge.json', BRIDGE_USERNAME: '' }, { ...files, 'b.json': JSON.stringify({ username: 'b', password: 'p', kai_name: 'B' }) });
    expect(o).toMatchObject({ username: 'b', kaiName: 'B', interval: DEFAULTS.interval });
  });

  it.each([
    ['{not json', /not valid JSON/],
    ['[1]', /JSON object/],
    [JSON.stringify({ kai_nmae: 'typo' }), /unknown key "kai_nmae"/],
    [JSON.stringify({ interval: 'soon' }), /interval: expected a positive number/],
    [JSON.stringify({ priority_usernames: 'a' }), /array of usernames/],
    [JSON.stringify({ log_level: 'loud' }), /log_level: expected one of/],
  ])('reports a bad config file %s', (content, message) => {
    const outcome = run([...REQUIRED, '--config', 'bad.json'], {}, { 'bad.json': content });
    expect(outcome).toMatchObject({ kind: 'exit', code: 2 });
    if (outcome.kind === 'exit') expect(outcome.output).toMatch(message);
  });

  it('reports a config file that cannot be read', () => {
    const outcome = run([...REQUIRED, '--config', 'missing.json']);
    expect(outcome).toMatchObject({ kind: 'exit', code: 2 });
    if (outcome.kind === 'exit') expect(outcome.output).toMatch(/missing\.json: cannot read it \(ENOENT\)/);
  });

  it('reports bad environment values by name', () => {
    const outcome = run(REQUIRED, { BRIDGE_INTERVAL: 'x' });
    expect(outcome).toMatchObject({ kind: 'exit', code: 2 });
    if (outcome.kind === 'exit') expect(outcome.output).toMatch(/BRIDGE_INTERVAL/);
  });
});
