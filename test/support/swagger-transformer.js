// Applies the @nestjs/swagger CLI plugin under ts-jest, so tests see the same OpenAPI document as `nest build`.
const plugin = require('@nestjs/swagger/plugin');

module.exports.name = 'nestjs-swagger-transformer';
module.exports.version = 1;
module.exports.factory = (compiler) =>
  plugin.before({ introspectComments: true, classValidatorShim: true, dtoFileNameSuffix: ['.dto.ts'] }, compiler.program);
