import { Module } from '@nestjs/common';
import { InMemoryUserRepository } from './persistence/in-memory-user.repository';
import { UserRepository } from './persistence/user.repository';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  controllers: [UsersController],
  providers: [UsersService, { provide: UserRepository, useClass: InMemoryUserRepository }],
  exports: [UsersService],
})
export class UsersModule {}
