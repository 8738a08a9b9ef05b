import { Module } from '@nestjs/common';
import { AuthFailureLimiter } from '../common/rate-limit/auth-failure-limiter';
import { PasswordHasher } from './domain/password-hasher';
import { InMemoryServerRepository } from './persistence/in-memory-server.repository';
import { ServerRepository } from './persistence/server.repository';
import { ServersController } from './servers.controller';
import { ServersService } from './servers.service';

@Module({
  controllers: [ServersController],
  providers: [ServersService, PasswordHasher, AuthFailureLimiter, { provide: ServerRepository, useClass: InMemoryServerRepository }],
  exports: [ServersService],
})
export class ServersModule {}
