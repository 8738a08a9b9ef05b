import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp } from './app.setup';
import { AppConfig } from './config/app-config';

async function bootstrap(): Promise<void> {
  // No default parsers: configureApp's JSON parser reads every body whatever its Content-Type, so Nest's
  // urlencoded parser would only cost time on each request (about 2% of a pop) without ever parsing one.
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(), { bufferLogs: true, bodyParser: false });
  const config = app.get(AppConfig);
  app.useLogger(['error', 'warn', 'log', 'debug', 'verbose'].slice(0, ['error', 'warn', 'log', 'debug', 'verbose'].indexOf(config.LOG_LEVEL) + 1) as never);
  configureApp(app);
  app.enableShutdownHooks();
  await app.listen(config.PORT, config.HOST);
  new Logger('Bootstrap').log(`KoboldAI Cluster listening on http://${config.HOST}:${config.PORT} (Swagger UI at /api)`);
}

bootstrap().catch((error: unknown) => {
  new Logger('Bootstrap').error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
