import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { configureApp, HTTP_APP_OPTIONS } from './app.setup';
import { AppLogger } from './common/logging/app-logger';
import { AppConfig, loadAppConfig } from './config/app-config';
import { describeStartFailure } from './start-failure';

let config: AppConfig | undefined;

async function bootstrap(): Promise<void> {
  config = loadAppConfig(process.env);
  const logger = new AppLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  // Nest's start-up lines are held back until the server listens: a start that fails prints one line only.
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(), {
    ...HTTP_APP_OPTIONS,
    logger,
    bufferLogs: true,
    autoFlushLogs: false,
    abortOnError: false,
  });
  configureApp(app);
  // process.exit(0) once the shutdown hooks (snapshot flush included) are done, so a clean stop exits 0.
  app.enableShutdownHooks(undefined, { useProcessExit: true });
  await app.listen(config.PORT, config.HOST);
  app.flushLogs();
  new Logger('Bootstrap').log(`KoboldAI Cluster listening on http://${config.HOST}:${config.PORT} (Swagger UI at /api, status page at /)`);
}

bootstrap().catch((error: unknown) => {
  // One line on stderr, in the configured format when the configuration itself could be read.
  const format = config?.LOG_FORMAT ?? (process.env.LOG_FORMAT?.trim().toLowerCase() === 'json' ? 'json' : 'text');
  new AppLogger({ level: 'error', format }).error(describeStartFailure(error, config), 'Bootstrap');
  process.exit(1);
});
