import type { ApiResponseSchemaHost } from '@nestjs/swagger';

type SchemaObject = ApiResponseSchemaHost['schema'];

/** OpenAPI schema of a `{username: tokens}` map, as /usage and /contributions answer. */
export const TOKENS_BY_USERNAME_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: { type: 'integer', minimum: 0 },
  example: { db0: 1234, Anonymous: 56 },
};
