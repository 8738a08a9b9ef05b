import { Logger, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp, HTTP_APP_OPTIONS } from './app.setup';
import { AppConfig } from './config/app-config';

/** Nest's log levels, most severe first: LOG_LEVEL keeps the ones up to itself. */
const LOG_LEVELS: LogLevel[] = ['error', 'warn', 'log', 'debug', 'verbose'];

async function bootstrap(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(), { ...HTTP_APP_OPTIONS, bufferLogs: true });
  const config = app.get(AppConfig);
  app.useLogger(LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(config.LOG_LEVEL) + 1));
  configureApp(app);
  // process.exit(0) once the shutdown hooks (snapshot flush included) are done, so a clean stop exits 0.
  app.enableShutdownHooks(undefined, { useProcessExit: true });
  await app.listen(config.PORT, config.HOST);
  new Logger('Bootstrap').log(`KoboldAI Cluster listening on http://${config.HOST}:${config.PORT} (Swagger UI at /api)`);
}

bootstrap().catch((error: unknown) => {
  new Logger('Bootstrap').error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
