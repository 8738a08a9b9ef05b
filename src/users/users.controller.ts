import { Controller, Get, Param } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponse, ApiRateLimitResponse } from '../common/http/api-error-response.decorator';
import { UserDto } from './dto/user.dto';
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

  @Get('users/:username')
  @ApiOperation({
    summary: 'One user: usage, contributions, balance',
    description: 'The balance (contributions − usage) sets the priority of the user\'s requests; see "Fair share" in the README.',
  })
  @ApiParam({ name: 'username', description: 'The username', example: 'db0' })
  @ApiOkResponse({ type: UserDto, description: 'The user\'s usage, contributions, balance and unfinished requests' })
  @ApiErrorResponse(404, 'The cluster has never seen this username', 'No user "nobody": they never requested or contributed anything')
  @ApiRateLimitResponse('overall')
  async findOne(@Param('username') username: string): Promise<UserDto> {
    const profile = await this.users.getProfile(username);
    return {
      username: profile.username,
      usage: profile.usage,
      contributions: profile.contributions,
      balance: profile.balance,
      waiting_requests: profile.waitingRequests,
    };
  }
}
