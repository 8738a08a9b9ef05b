import { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { answerClientErrorsAsJson } from './common/http/client-errors';
import { AppConfig } from './config/app-config';

export const API_DESCRIPTION = `Turns many volunteers' KoboldAI instances into one crowdsourced text-generation cluster.

**Clients** POST a prompt to \`/generate/prompt\` and poll \`/generate/prompt/{id}\`, or call \`/generate/sync\` and wait.
**KoboldAI United** joins as a client with \`--path http://HOST:5001 --model CLUSTER --apikey USERNAME\`.
**Volunteers** join with the bridge, which polls \`/generate/pop\` and hands results to \`/generate/submit\`.

Prompts and generations live in memory only and are wiped after 10 minutes without activity.`;

/** Everything about the HTTP app that is not a Nest module: shared by main.ts and the e2e tests. */
export function configureApp(app: NestExpressApplication): INestApplication {
  const config = app.get(AppConfig);
  app.set('trust proxy', config.TRUST_PROXY);
  app.disable('x-powered-by');
  answerClientErrorsAsJson(app.getHttpServer());
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
      .setVersion('1.0')
      .addTag('Generation', 'Request generations, and the bridge endpoints that serve them')
      .addTag('Servers', 'The KoboldAI instances serving the cluster')
      .addTag('Users', 'What each user used and contributed, in tokens')
      .addTag('Models', 'Which models are being served')
      .build(),
  );
  SwaggerModule.setup('api', app, document, { jsonDocumentUrl: 'api-json' });
  return app;
}
