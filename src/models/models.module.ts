import { Module } from '@nestjs/common';
import { ServersModule } from '../servers/servers.module';
import { ModelsController } from './models.controller';
import { ModelsService } from './models.service';

@Module({ imports: [ServersModule], controllers: [ModelsController], providers: [ModelsService] })
export class ModelsModule {}
