import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig, AppConfigOverrides, loadAppConfig } from './app-config';

const CONFIG_KEY = 'app';

/**
 * Loads and validates the environment once (through @nestjs/config) and provides the typed
 * `AppConfig` to every module. Tests pass overrides instead of touching process.env.
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(overrides: AppConfigOverrides = {}): DynamicModule {
    return {
      module: AppConfigModule,
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          load: [() => ({ [CONFIG_KEY]: loadAppConfig({ ...process.env, ...overrides }) })],
        }),
      ],
      providers: [
        {
          provide: AppConfig,
          inject: [ConfigService],
          useFactory: (configService: ConfigService) => configService.getOrThrow<AppConfig>(CONFIG_KEY),
        },
      ],
      exports: [AppConfig],
    };
  }
}
