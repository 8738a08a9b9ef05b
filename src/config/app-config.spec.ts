import { AppConfig, defaultBodyLimit, loadAppConfig } from './app-config';

describe('loadAppConfig', () => {
  it('uses the defaults for an empty environment', () => {
    const config = loadAppConfig({});
    expect(config).toBeInstanceOf(AppConfig);
    expect(config).toMatchObject({ PORT: 5001, HOST: '0.0.0.0', DATA_DIR: './data', STALE_SERVER_SECONDS: 300, PROMPT_EXPIRY_SECONDS: 600, RATE_LIMITS: true });
  });

  it('reads numbers and switches from strings', () => {
    const config = loadAppConfig({ PORT: '8080', RATE_LIMITS: 'off', TRUST_PROXY: 'true', MAX_N: '7' });
    expect(config).toMatchObject({ PORT: 8080, RATE_LIMITS: false, TRUST_PROXY: true, MAX_N: 7 });
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['STALE_SERVER_SECONDS', '0'],
    ['RATE_LIMITS', 'sometimes'],
    ['LOG_LEVEL', 'loud'],
    ['BODY_LIMIT_BYTES', '1.5'],
  ])('stops the start with a message naming %s for %s', (name, value) => {
    expect(() => loadAppConfig({ [name]: value })).toThrow(new RegExp(`Invalid configuration: .*${name}=`));
  });

  it.each([
    ['info', 'log'],
    ['INFO', 'log'],
    ['log', 'log'],
    ['error', 'error'],
    ['warn', 'warn'],
    ['debug', 'debug'],
    ['verbose', 'verbose'],
  ])('accepts LOG_LEVEL=%s as %s', (value, level) => {
    expect(loadAppConfig({ LOG_LEVEL: value }).LOG_LEVEL).toBe(level);
  });

  it.each([
    ['true', true],
    ['off', false],
    ['1', 1],
    ['2', 2],
    ['127.0.0.1', '127.0.0.1'],
    ['loopback', 'loopback'],
    ['10.0.0.0/8, 192.168.1.7,uniquelocal', '10.0.0.0/8, 192.168.1.7,uniquelocal'],
    ['::1', '::1'],
  ])('accepts TRUST_PROXY=%s as Express does', (value, expected) => {
    expect(loadAppConfig({ TRUST_PROXY: value }).TRUST_PROXY).toBe(expected);
  });

  it.each(['10.0.0.999', 'proxy.example.com', '10.0.0.0/33', '-1', 'loopback,,'])('refuses TRUST_PROXY=%s, naming it', (value) => {
    expect(() => loadAppConfig({ TRUST_PROXY: value })).toThrow(/Invalid configuration: TRUST_PROXY=.*hop count/);
  });

  it('reads LOG_FORMAT and ACCESS_LOG', () => {
    expect(loadAppConfig({})).toMatchObject({ LOG_FORMAT: 'text', ACCESS_LOG: 'quiet' });
    expect(loadAppConfig({ LOG_FORMAT: 'JSON', ACCESS_LOG: 'true' })).toMatchObject({ LOG_FORMAT: 'json', ACCESS_LOG: 'on' });
    expect(loadAppConfig({ ACCESS_LOG: 'off' }).ACCESS_LOG).toBe('off');
    expect(() => loadAppConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT=/);
    expect(() => loadAppConfig({ ACCESS_LOG: 'loud' })).toThrow(/ACCESS_LOG=/);
  });

  it('ignores unrelated variables', () => {
    expect(() => loadAppConfig({ PATH: '/usr/bin', HOME: '/root' })).not.toThrow();
  });
});

describe('REDIS_URL', () => {
  it('is unset by default: everything stays in memory', () => {
    expect(loadAppConfig({}).REDIS_URL).toBeUndefined();
    expect(loadAppConfig({ REDIS_URL: '' }).REDIS_URL).toBeUndefined();
  });

  it.each(['redis://localhost:6379/0', 'rediss://:pw@cache.example.com:6380', 'unix:///run/redis/redis.sock', '/run/redis/redis.sock'])('accepts %s', (url) => {
    expect(loadAppConfig({ REDIS_URL: url }).REDIS_URL).toBe(url);
  });

  it('stops the start on a bad URL, saying why, without showing the password', () => {
    let message = '';
    try {
      loadAppConfig({ REDIS_URL: 'http://kc:hunter2@localhost:6379' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/Invalid configuration: REDIS_URL="http:\/\/\*\*\*@localhost:6379": unsupported scheme "http:"/);
    expect(message).not.toContain('hunter2');
  });
});

describe('loadAppConfig: settings that depend on each other', () => {
  it('derives BODY_LIMIT_BYTES from MAX_PROMPT_CHARS and MAX_PARAMS_BYTES when it is not set', () => {
    expect(loadAppConfig({}).BODY_LIMIT_BYTES).toBe(681_920);
    expect(new AppConfig().BODY_LIMIT_BYTES).toBe(defaultBodyLimit(new AppConfig()));
    expect(loadAppConfig({ MAX_PROMPT_CHARS: '1000', MAX_PARAMS_BYTES: '1024' }).BODY_LIMIT_BYTES).toBe(6 * 1000 + 1024 + 65_536);
    expect(loadAppConfig({ MAX_PROMPT_CHARS: '1000', BODY_LIMIT_BYTES: '2048' }).BODY_LIMIT_BYTES).toBe(2048);
  });

  it('refuses a headers timeout longer than the request timeout, naming both', () => {
    expect(() => loadAppConfig({ HEADERS_TIMEOUT_SECONDS: '40', REQUEST_TIMEOUT_SECONDS: '30' })).toThrow(/HEADERS_TIMEOUT_SECONDS=40: .*REQUEST_TIMEOUT_SECONDS/);
  });
});
