import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig } from './app-config';

const CONFIG_KEY = 'app';

/**
 * Provides the typed `AppConfig`, loaded and validated once by AppModule.forRoot (see loadAppConfig),
 * to every module, through @nestjs/config.
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          load: [() => ({ [CONFIG_KEY]: config })],
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
