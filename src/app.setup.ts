import { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { APP_VERSION } from './app-version';
import { answerClientErrorsAsJson } from './common/http/client-errors';
import { installAccessLog } from './common/logging/access-log';
import { applyServerTimeouts } from './common/http/http-connections';
import { securityHeaders } from './common/http/security-headers';
import { AppConfig } from './config/app-config';

export const API_DESCRIPTION = `Turns many volunteers' KoboldAI instances into one crowdsourced text-generation cluster:
people who want text send prompts here, and volunteers' KoboldAI servers pick them up, generate, and hand the results back.

### Use the cluster
* **From this page**: open \`POST /generate/prompt\`, press *Try it out*, then *Execute*: the example body is a real request.
  Copy the \`id\` it answers into \`GET /generate/prompt/{id}\` and poll until \`finished\` equals your \`n\`.
* **From any HTTP client**: the same two calls, e.g.
  \`curl -H "Content-Type: application/json" -d '{"prompt":"I entered into an argument with a clown", "params":{"max_length":16, "frmttriminc": true, "n":2}, "username":"db0", "models":["KoboldAI/fairseq-dense-13B-Nerys-v2"]}' http://HOST:5001/generate/prompt\`.
  \`params\` is what KoboldAI's \`api/latest/generate\` takes, plus \`n\`, which can be as high as you like: many servers work on one request at once.
  \`POST /generate/sync\` does both and waits for the generations.
* **From KoboldAI** (United branch) in CLUSTER mode: \`play.sh --path http://HOST:5001 --model CLUSTER --apikey USERNAME\`,
  optionally with one or more \`--req_model "KoboldAI/fairseq-dense-13B-Nerys-v2"\` to allow only those models.

### Join the cluster with your KoboldAI
Run the bridge next to your KoboldAI United instance with a username, a password and a server name:
in a copy of the KoboldAI Cluster project, \`npm ci && npm run build\` once, then
\`npm run bridge -- -u USER -p PASS -n "My Awesome Instance" -k http://localhost:5000 -c http://HOST:5001\`
(the original KoboldAI-cluster's \`bridge.py\` works too).
It polls \`POST /generate/pop\` for work, has your KoboldAI generate it, and hands the text to \`POST /generate/submit\`;
your username is credited with the tokens. A server that has not polled for 5 minutes is stale and left out of \`GET /servers\`,
but keeps its stats: come back with the same name and password, from any machine.

### Privacy and limits
Prompts and generations live in memory only and are wiped after 10 minutes without activity; the cluster never writes them to disk
or its logs. The bridges run on volunteers' machines, though: do not prompt with anything you do not want others to see.
Usernames are not authenticated; they only count usage (\`GET /usage\`) and contributions (\`GET /contributions\`).
Every error answers \`{statusCode, error, message}\`, and the message says what to fix.

### See the cluster at work
The status page at [\`/\`](/) shows the active servers, the models, the queue and the tokens generated, refreshed every few seconds;
\`GET /status\` gives the same as JSON. Operators have \`GET /health\`, \`GET /health/ready\` and \`GET /metrics\` (Prometheus).
`;

/**
 * Options for creating the HTTP app, shared by main.ts and the e2e tests. No default parsers:
 * configureApp's JSON parser reads every body whatever its Content-Type, so Nest's urlencoded parser
 * would only cost time on each request (about 2% of a pop) without ever parsing one.
 */
export const HTTP_APP_OPTIONS = { bodyParser: false } as const;

/** Everything about the HTTP app that is not a Nest module: shared by main.ts and the e2e tests. */
export function configureApp(app: NestExpressApplication): INestApplication {
  const config = app.get(AppConfig);
  app.set('trust proxy', config.TRUST_PROXY);
  app.disable('x-powered-by');
  // First, so that every answer has them, errors of the body parser included.
  app.use(securityHeaders());
  // The only per-request hook of its own; with ACCESS_LOG=off it is not even installed.
  if (config.ACCESS_LOG !== 'off') installAccessLog(app.getHttpServer(), config.ACCESS_LOG);
  answerClientErrorsAsJson(app.getHttpServer());
  applyServerTimeouts(app.getHttpServer(), config);
  // Bodies are read as JSON whatever their Content-Type, so a `curl -d` without a header still works.
  app.useBodyParser('json', { limit: config.BODY_LIMIT_BYTES, type: () => true });
  app.enableCors({
    origin: config.CORS_ORIGINS === '*' ? '*' : config.CORS_ORIGINS.split(',').map((o) => o.trim()),
  });
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('KoboldAI Cluster')
      .setDescription(API_DESCRIPTION)
      .setVersion(APP_VERSION)
      .setLicense('AGPL-3.0-only', 'https://www.gnu.org/licenses/agpl-3.0.html')
      .addTag('Generation', 'Request generations (clients, KoboldAI CLUSTER mode), and the pop/submit endpoints bridges serve them with')
      .addTag('Servers', 'The volunteers\' KoboldAI instances serving the cluster, and their statistics')
      .addTag('Users', 'What each username used and contributed, in tokens')
      .addTag('Models', 'Which models active servers run right now')
      .addTag('Status', 'The cluster at a glance: what the status page at / shows')
      .addTag('AI Horde v2 (text)', "The AI Horde's v2 text API, for KoboldAI United, KoboldAI Lite, SillyTavern, the AI-Horde-Worker and KoboldCpp: same queue, same servers, same ledger")
      .addTag('Operations', 'Health checks for orchestrators and metrics for Prometheus; never rate limited')
      .build(),
  );
  SwaggerModule.setup('api', app, document, { jsonDocumentUrl: 'api-json' });
  return app;
}
