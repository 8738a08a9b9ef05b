import { Module } from '@nestjs/common';
import { userRepositoryProvider } from './persistence/user-repository.provider';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  controllers: [UsersController],
  providers: [UsersService, userRepositoryProvider],
  exports: [UsersService],
})
export class UsersModule {}
