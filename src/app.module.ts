import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { BodyValidationPipe } from './common/http/body-validation.pipe';
import { HttpConnections } from './common/http/http-connections';
import { HttpExceptionFilter } from './common/http/http-exception.filter';
import { PersistenceModule } from './common/persistence/persistence.module';
import { RateLimitModule } from './common/rate-limit/rate-limit.module';
import { RedisModule } from './common/redis/redis.module';
import { AppConfigOverrides, loadAppConfig } from './config/app-config';
import { AppConfigModule } from './config/config.module';
import { GenerationModule } from './generation/generation.module';
import { HealthModule } from './health/health.module';
import { HordeModule } from './horde/horde.module';
import { MetricsModule } from './metrics/metrics.module';
import { ModelsModule } from './models/models.module';
import { ServersModule } from './servers/servers.module';
import { StatusModule } from './status/status.module';
import { UsersModule } from './users/users.module';

@Module({})
export class AppModule {
  /** The whole application; tests pass configuration overrides instead of touching process.env. */
  static forRoot(overrides: AppConfigOverrides = {}): DynamicModule {
    // Loaded (and validated: a bad value throws, naming the variable) once, here, so that modules can
    // be shaped by it when they are built.
    const config = loadAppConfig({ ...process.env, ...overrides });
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        ScheduleModule.forRoot(),
        PersistenceModule,
        RedisModule.forRoot(config),
        RateLimitModule.forRoot(config.RATE_LIMITS),
        GenerationModule,
        ServersModule,
        UsersModule,
        ModelsModule,
        MetricsModule,
        HealthModule,
        StatusModule,
        HordeModule,
      ],
      providers: [
        { provide: APP_PIPE, useClass: BodyValidationPipe },
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
        HttpConnections,
      ],
    };
  }
}
