/** Unit tests live beside the code (src/**/*.spec.ts); e2e tests against the real HTTP app live in test/. */
const tsJest = [
  'ts-jest',
  {
    tsconfig: 'tsconfig.json',
    astTransformers: { before: [{ path: '@nestjs/swagger/plugin', options: { introspectComments: true, classValidatorShim: true } }] },
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
