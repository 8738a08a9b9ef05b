import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiRateLimitResponse } from '../common/http/api-error-response.decorator';
import { TOKENS_BY_USERNAME_SCHEMA } from './dto/tokens-by-username.schema';
import { UsersService } from './users.service';

@ApiTags('Users')
@Controller()
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get('usage')
  @ApiOperation({ summary: 'Tokens generated for each user', description: 'How many tokens the cluster generated for each username\'s requests.' })
  @ApiOkResponse({ schema: TOKENS_BY_USERNAME_SCHEMA, description: 'Username → tokens' })
  @ApiRateLimitResponse()
  usage(): Promise<Record<string, number>> {
    return this.users.usageByUsername();
  }

  @Get('contributions')
  @ApiOperation({ summary: 'Tokens contributed by each user', description: 'How many tokens each username\'s servers generated for others.' })
  @ApiOkResponse({ schema: TOKENS_BY_USERNAME_SCHEMA, description: 'Username → tokens' })
  @ApiRateLimitResponse()
  contributions(): Promise<Record<string, number>> {
    return this.users.contributionsByUsername();
  }
}
