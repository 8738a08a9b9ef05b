// Unit tests live beside the code (src, *.spec.ts); e2e tests against the real HTTP app live in test/.
const { join } = require('node:path');

const tsJest = [
  'ts-jest',
  {
    tsconfig: join(__dirname, 'tsconfig.json'),
    astTransformers: { before: [join(__dirname, 'test/support/swagger-transformer.js')] },
    // The hybrid nodenext module kind is fine here: tests run as CommonJS, like the build.
    diagnostics: { ignoreCodes: [151002] },
  },
];

const common = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
};

const e2e = { ...common, rootDir: '.', testRegex: 'test/.*\\.e2e-spec\\.ts$' };

/**
 * The e2e files run a second time in Redis mode (project `e2e-redis`: KC_TEST_STORE=redis, so every app
 * `startTestApp()`/`useTestApp()` starts is on a private redis-server, see test/support/test-app.ts), so
 * that one `npm test` (and `.ci/run`'s single jest summary) proves both modes (issue 13). Left out of that
 * second run, because it would only repeat the first:
 * - files that start no in-process app: they run `node dist/main.js` children with their own environment
 *   (bridge, shutdown, durability, connections, logs, auth-failures, status page, Swagger UI) or read the
 *   OpenAPI document; KC_TEST_STORE does not reach them, and the multi-instance and instance-failure files
 *   run their instances on Redis in either project;
 * - redis-mode.e2e-spec.ts, which starts its own Redis in every run;
 * - fuzz.e2e-spec.ts: random bodies against the validation in front of the stores (the same in both
 *   modes), and the longest file of the suite.
 */
const REDIS_MODE_SKIPS = [
  'auth-failures', 'bridge', 'connections', 'durability', 'logs', 'shutdown', 'status-page', 'swagger-ui', 'openapi',
  'redis-mode', 'fuzz', 'multi-instance', 'instance-failure',
];

module.exports = {
  projects: [
    { ...common, displayName: 'unit', rootDir: 'src', testRegex: '.*\\.spec\\.ts$' },
    { ...e2e, displayName: 'e2e' },
    {
      ...e2e,
      displayName: 'e2e-redis',
      setupFiles: [join(__dirname, 'test/support/redis-store-mode.js')],
      setupFilesAfterEnv: [join(__dirname, 'test/support/redis-store-timeout.js')],
      testPathIgnorePatterns: ['/node_modules/', ...REDIS_MODE_SKIPS.map((name) => `/test/${name}\\.e2e-spec\\.ts$`)],
    },
  ],
};
