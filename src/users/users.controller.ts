import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiBodyErrorResponses, ApiErrorResponse, ApiRateLimitResponse } from '../common/http/api-error-response.decorator';
import { RateLimitBucket } from '../common/rate-limit/rate-limit-bucket.decorator';
import { RegisteredUserDto, RegisterUserDto } from './dto/register-user.dto';
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

  @Post('users')
  @HttpCode(HttpStatus.CREATED)
  @RateLimitBucket('create')
  @ApiOperation({
    summary: 'Register a username and get its API key (AI Horde v2 API)',
    description:
      'Answers the API key once: the cluster stores only its hash, so keep it. The key is the `apikey` header of the `/api/v2` endpoints: ' +
      'requests made with it are counted for this username, and v2 workers popping with it belong to it. The v1 API is unchanged: ' +
      'there a username is still a claim anybody may make.',
  })
  @ApiCreatedResponse({ type: RegisteredUserDto, description: 'Registered; the key is shown this once' })
  @ApiBodyErrorResponses('Malformed body: `username` missing, too long, or with a control or invisible character', 'username should not be empty')
  @ApiErrorResponse(403, 'Registration is closed (ACCOUNT_REGISTRATION=closed)')
  @ApiErrorResponse(409, 'The username is already registered')
  @ApiRateLimitResponse('create')
  async register(@Body() body: RegisterUserDto): Promise<RegisteredUserDto> {
    const { username, apiKey } = await this.users.register(body.username);
    return { username, api_key: apiKey };
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
