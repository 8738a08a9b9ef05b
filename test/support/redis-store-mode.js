// Jest setup file of the `e2e-redis` project (jest.config.js): the in-process apps of the e2e files run in
// Redis mode (test/support/test-app.ts reads this when a test file loads it).
process.env.KC_TEST_STORE = 'redis';
