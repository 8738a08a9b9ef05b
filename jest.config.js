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

module.exports = {
  projects: [
    { ...common, displayName: 'unit', rootDir: 'src', testRegex: '.*\\.spec\\.ts$' },
    { ...common, displayName: 'e2e', rootDir: '.', testRegex: 'test/.*\\.e2e-spec\\.ts$' },
  ],
};
