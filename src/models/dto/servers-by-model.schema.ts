import type { ApiResponseSchemaHost } from '@nestjs/swagger';

type SchemaObject = ApiResponseSchemaHost['schema'];

/** OpenAPI schema of a `{model: active servers}` map, as /models answers. */
export const SERVERS_BY_MODEL_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: { type: 'integer', minimum: 1 },
  example: { 'KoboldAI/fairseq-dense-13B-Nerys-v2': 2, 'KoboldAI/fairseq-dense-2.7B-Nerys': 1 },
};
