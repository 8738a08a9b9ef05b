import SwaggerParser from '@apidevtools/swagger-parser';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { AppModule } from '../src/app.module';
import { configureApp, HTTP_APP_OPTIONS } from '../src/app.setup';

/** The OpenAPI 3 document the server publishes at /api-json, checked by a validator and for completeness. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON, checked field by field below
type Json = Record<string, any>;

const TAGS = ['Generation', 'Servers', 'Users', 'Models', 'Status', 'AI Horde v2 (text)', 'Operations'];
/** Routes that answer no error on purpose (no body, no rate limit, nothing to refuse): 500 would be a bug. */
const NO_ERRORS = ['GET /health', 'GET /metrics'];
/** Routes that answer something else than JSON, by content type. */
const NOT_JSON: Record<string, string> = { 'GET /metrics': 'text/plain' };
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const CLOWN_REQUEST = {
  prompt: 'I entered into an argument with a clown',
  params: { max_length: 16, frmttriminc: true, n: 2 },
  username: 'db0',
  models: ['KoboldAI/fairseq-dense-13B-Nerys-v2'],
};

describe('OpenAPI document at /api-json', () => {
  let app: NestExpressApplication;
  let dataDir: string;
  let spec: Json;
  let operations: Array<{ method: string; path: string; op: Json }>;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'kc-openapi-'));
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ DATA_DIR: dataDir, RATE_LIMITS: 'off', LOG_LEVEL: 'error' })],
    }).compile();
    app = moduleRef.createNestApplication<NestExpressApplication>({ ...HTTP_APP_OPTIONS, logger: ['error'] });
    configureApp(app);
    await app.init();
    const res = await request(app.getHttpServer()).get('/api-json').expect(200).expect('Content-Type', /json/);
    spec = res.body;
    operations = Object.entries(spec.paths as Json).flatMap(([path, item]) =>
      Object.entries(item as Json)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, op]) => ({ method, path, op: op as Json })),
    );
  });

  afterAll(async () => {
    await app?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is valid OpenAPI 3', async () => {
    expect(spec.openapi).toMatch(/^3\./);
    // The validator dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(spec) as never)).resolves.toBeDefined();
  });

  it('says what the cluster is and how to join it', () => {
    expect(spec.info.title).toBe('KoboldAI Cluster');
    const description: string = spec.info.description;
    expect(description).toContain('crowdsourced text-generation cluster');
    expect(description).toContain('--model CLUSTER --apikey');
    expect(description).toContain('/generate/pop');
    expect(description).toContain('bridge');
    expect(spec.tags.map((t: Json) => t.name)).toEqual(TAGS);
    for (const tag of spec.tags) expect(tag.description).toBeTruthy();
  });

  it('lists every route', () => {
    expect(operations.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort()).toEqual(
      [
        'DELETE /generate/prompt/{id}',
        'GET /contributions',
        'GET /generate/prompt/{id}',
        'GET /health',
        'GET /health/ready',
        'GET /metrics',
        'GET /models',
        'GET /servers',
        'GET /servers/{id}',
        'GET /status',
        'GET /status/throughput',
        'GET /usage',
        'GET /users/{username}',
        'POST /generate/async',
        'POST /generate/pop',
        'POST /generate/prompt',
        'POST /generate/submit',
        'POST /generate/sync',
        'POST /users',
        'DELETE /api/v2/generate/text/status/{id}',
        'GET /api/v2/find_user',
        'GET /api/v2/generate/text/status/{id}',
        'GET /api/v2/status/heartbeat',
        'GET /api/v2/status/models',
        'GET /api/v2/status/performance',
        'GET /api/v2/workers',
        'DELETE /api/v2/workers/{id}',
        'GET /api/v2/workers/{id}',
        'POST /api/v2/generate/text/async',
        'POST /api/v2/generate/text/pop',
        'POST /api/v2/generate/text/submit',
        'PUT /api/v2/workers/{id}',
      ].sort(),
    );
  });

  it('gives every operation a summary, a description, one module tag and described responses', () => {
    for (const { method, path, op } of operations) {
      const where = `${method.toUpperCase()} ${path}`;
      expect([where, typeof op.summary === 'string' && op.summary.length > 0]).toEqual([where, true]);
      expect([where, typeof op.description === 'string' && op.description.length > 0]).toEqual([where, true]);
      expect([where, op.tags?.length === 1 && TAGS.includes(op.tags[0])]).toEqual([where, true]);
      // 200, or the 201 of a registration and the 202 of the v2 API's async (as the AI Horde answers it).
      expect([where, Object.keys(op.responses).filter((status) => ['200', '201', '202'].includes(status)).length]).toEqual([where, 1]);
      for (const [status, response] of Object.entries(op.responses as Json)) {
        expect([where, status, typeof response.description === 'string' && response.description.length > 0]).toEqual([where, status, true]);
        expect([where, status, response.content?.[NOT_JSON[where] ?? 'application/json']?.schema]).toEqual([where, status, expect.anything()]);
      }
    }
  });

  it('documents every error response with the shared error body and an example of it', () => {
    for (const { method, path, op } of operations) {
      const where = `${method.toUpperCase()} ${path}`;
      const errors = Object.entries(op.responses as Json).filter(([status]) => Number(status) >= 400);
      expect([where, errors.length > 0]).toEqual([where, !NO_ERRORS.includes(where)]);
      for (const [status, response] of errors) {
        const media = response.content['application/json'];
        expect([where, status, media.schema.$ref]).toEqual([where, status, '#/components/schemas/ErrorResponseDto']);
        expect([where, status, media.example]).toEqual([
          where,
          status,
          { statusCode: Number(status), error: expect.any(String), message: expect.any(String) },
        ]);
      }
      if (op.requestBody) {
        // Any JSON body can be malformed (400, naming the field) or too large (413).
        expect([where, Object.keys(op.responses)]).toEqual([where, expect.arrayContaining(['400', '413'])]);
      } else {
        expect([where, Object.keys(op.responses)]).toEqual([where, expect.not.arrayContaining(['400', '413'])]);
      }
    }
    const statuses = (path: string, method = 'get'): string[] => Object.keys(spec.paths[path][method].responses);
    expect(statuses('/generate/prompt/{id}')).toContain('404');
    expect(statuses('/servers/{id}')).toContain('404');
    expect(statuses('/generate/sync', 'post')).toEqual(expect.arrayContaining(['503', '504']));
    expect(statuses('/generate/pop', 'post')).toContain('401');
    expect(statuses('/generate/submit', 'post')).toEqual(expect.arrayContaining(['401', '404']));
    // submit counts against no request rate limit; it answers 429 only after too many wrong passwords.
    expect(spec.paths['/generate/submit'].post.responses['429'].description).toMatch(/^Too many wrong passwords/);
    expect(statuses('/generate/prompt', 'post')).toContain('429');
  });

  it('documents path parameters (ids are uuids)', () => {
    for (const { method, path, op } of operations) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const params: Json[] = (op.parameters ?? []).filter((p: Json) => p.in === 'path');
      expect([method, path, params.map((p) => p.name).sort()]).toEqual([method, path, names.sort()]);
      for (const param of params) {
        expect(param.description).toBeTruthy();
        expect(param.required).toBe(true);
        if (param.name === 'id') expect(param.schema).toMatchObject({ type: 'string', format: 'uuid', example: expect.any(String) });
      }
    }
  });

  it('describes every schema field, with an example', () => {
    const schemas = spec.components.schemas as Json;
    expect(Object.keys(schemas)).toEqual(expect.arrayContaining(['CreatePromptDto', 'ErrorResponseDto', 'PopRequestDto', 'ServerDto']));
    for (const [name, schema] of Object.entries(schemas)) {
      for (const [field, property] of Object.entries<Json>((schema as Json).properties ?? {})) {
        expect([name, field, Boolean(property.description)]).toEqual([name, field, true]);
        expect([name, field, property.example !== undefined]).toEqual([name, field, true]);
      }
    }
  });

  it("offers the seed README's clown request as the example body of POST /generate/prompt, and it works as-is", async () => {
    const body = spec.paths['/generate/prompt'].post.requestBody;
    expect(body.required).toBe(true);
    const examples = Object.values(body.content['application/json'].examples as Json);
    expect(examples).toHaveLength(1);
    expect(examples[0].value).toEqual(CLOWN_REQUEST);

    const http = request(app.getHttpServer());
    const created = await http.post('/generate/prompt').send(examples[0].value).expect(200);
    expect(created.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const status = await http.get(`/generate/prompt/${created.body.id}`).expect(200);
    expect(status.body).toMatchObject({ finished: 0, processing: 0, waiting: 2, done: false, generations: [] });
  });

  it('answers errors in the documented shape', async () => {
    const http = request(app.getHttpServer());
    const malformed = await http
      .post('/generate/prompt')
      .send({ ...CLOWN_REQUEST, params: { n: 'two' } })
      .expect(400);
    expect(malformed.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining('params.n must be') });
    const unknown = await http.get('/generate/prompt/34a9f91a-6db5-4d4c-962f-c4d795739610').expect(404);
    expect(unknown.body).toEqual({ statusCode: 404, error: 'Not Found', message: expect.stringContaining('34a9f91a') });
    const tooLarge = await http
      .post('/generate/prompt')
      .send({ ...CLOWN_REQUEST, prompt: 'x'.repeat(1_100_000) })
      .expect(413);
    // The documented example, but for the sizes, which are those of this body.
    const example = spec.paths['/generate/prompt'].post.responses['413'].content['application/json'].example as { message: string };
    const sized = new RegExp(`^${example.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\d+/g, '\\d+')}$`);
    expect(tooLarge.body).toEqual({ ...example, message: expect.stringMatching(sized) });
  });
});
