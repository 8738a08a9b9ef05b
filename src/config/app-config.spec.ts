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

  it('ignores unrelated variables', () => {
    expect(() => loadAppConfig({ PATH: '/usr/bin', HOME: '/root' })).not.toThrow();
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
