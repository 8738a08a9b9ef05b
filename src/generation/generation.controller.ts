import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Ip, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiBodyErrorResponses, ApiErrorResponse, ApiRateLimitResponse, WRONG_PASSWORD_LIMIT } from '../common/http/api-error-response.decorator';
import { RateLimitBucket } from '../common/rate-limit/rate-limit-bucket.decorator';
import { CLOWN_PROMPT_EXAMPLE, CreatePromptDto } from './dto/create-prompt.dto';
import { PopRequestDto } from './dto/pop-request.dto';
import { PopResponseDto } from './dto/pop-response.dto';
import { PromptCreatedDto } from './dto/prompt-created.dto';
import { PromptStatusDto } from './dto/prompt-status.dto';
import { SubmitRequestDto } from './dto/submit-request.dto';
import { SubmitResponseDto } from './dto/submit-response.dto';
import { GenerationService } from './generation.service';

const REGISTRATION_LIMIT =
  'whatever RATE_LIMITS, for a new server name from an address that already registered REGISTRATIONS_PER_HOUR_PER_ADDRESS (20) names within the hour: the message says when to try again';
const PARAMS_TOO_LARGE =
  'The body is larger than BODY_LIMIT_BYTES (681,920 bytes by default), or `params` is larger than MAX_PARAMS_BYTES (16,384 bytes of JSON by default): ' +
  'params are kept with the request and sent to every server that works on it. ' +
  'The message says which, e.g. `params is 20032 bytes long as JSON; the limit is MAX_PARAMS_BYTES (16384)`';
const PER_USER_LIMIT = 'or the requester already has MAX_WAITING_REQUESTS_PER_USER (30) unfinished requests (anonymous requesters: per IP)';

@ApiTags('Generation')
@Controller('generate')
export class GenerationController {
  constructor(private readonly generation: GenerationService) {}

  @Post(['prompt', 'async'])
  @HttpCode(HttpStatus.OK)
  @RateLimitBucket('create')
  @ApiOperation({
    summary: 'Request generations for a prompt',
    description:
      'Queues the prompt for `params.n` generations (default 1) and answers its id at once; poll `GET /generate/prompt/{id}` for the results. ' +
      '`POST /generate/async` is the same endpoint under the name the original KoboldAI-cluster gave it.',
  })
  @ApiBody({ type: CreatePromptDto, examples: { clown: { summary: "The original KoboldAI-cluster README's example", value: CLOWN_PROMPT_EXAMPLE } } })
  @ApiOkResponse({ type: PromptCreatedDto, description: 'The request is queued: poll its id' })
  @ApiBodyErrorResponses(
    'Malformed body: not a JSON object, a field missing or of the wrong type, `prompt` over MAX_PROMPT_CHARS or `params.n` over MAX_N. The message names the field.',
    undefined,
    PARAMS_TOO_LARGE,
  )
  @ApiRateLimitResponse('create', PER_USER_LIMIT)
  async createRequest(@Body() body: CreatePromptDto, @Ip() clientAddress: string): Promise<PromptCreatedDto> {
    const request = await this.generation.createRequest(body, clientAddress);
    return { id: request.id };
  }

  @Get('prompt/:id')
  @RateLimitBucket('status')
  @ApiOperation({ summary: 'Status and generations of a request', description: 'Reading the status does not keep the request from expiring.' })
  @ApiParam({ name: 'id', format: 'uuid', description: 'The id `POST /generate/prompt` answered', example: '34a9f91a-6db5-4d4c-962f-c4d795739610' })
  @ApiOkResponse({ type: PromptStatusDto, description: 'Where the request stands, and its generations so far' })
  @ApiErrorResponse(404, 'Unknown id, or the request expired after PROMPT_EXPIRY_SECONDS (10 minutes) without activity')
  @ApiRateLimitResponse('status')
  async status(@Param('id') id: string): Promise<PromptStatusDto> {
    return PromptStatusDto.fromStanding(await this.generation.getRequestStanding(id));
  }

  @Delete('prompt/:id')
  @ApiOperation({
    summary: 'Cancel a request',
    description:
      'Drops the waiting generations and answers the status at that moment, with the generations done so far. ' +
      'Generations already in progress still finish, are still credited to their servers, and are added to the status.',
  })
  @ApiParam({ name: 'id', format: 'uuid', description: 'The id `POST /generate/prompt` answered', example: '34a9f91a-6db5-4d4c-962f-c4d795739610' })
  @ApiOkResponse({ type: PromptStatusDto, description: 'The request is cancelled (`cancelled: true`)' })
  @ApiErrorResponse(404, 'Unknown id, or the request expired after PROMPT_EXPIRY_SECONDS (10 minutes) without activity')
  @ApiRateLimitResponse('overall')
  async cancel(@Param('id') id: string): Promise<PromptStatusDto> {
    return PromptStatusDto.fromStanding(await this.generation.cancelRequest(id));
  }

  @Post('sync')
  @HttpCode(HttpStatus.OK)
  @RateLimitBucket('create')
  @ApiOperation({
    summary: 'Generate and wait (KoboldAI CLUSTER mode)',
    description:
      'Queues the prompt and answers the list of its `n` generations once they are all done. 503 at once when no active server could serve it. ' +
      'Closing the connection cancels the request.',
  })
  @ApiBody({ type: CreatePromptDto, examples: { clown: { summary: "The original KoboldAI-cluster README's example", value: CLOWN_PROMPT_EXAMPLE } } })
  @ApiOkResponse({ description: 'The `n` generations', schema: { type: 'array', items: { type: 'string' }, example: [' as he stood before me.', ' and lost.'] } })
  @ApiBodyErrorResponses(
    'Malformed body: not a JSON object, a field missing or of the wrong type, `prompt` over MAX_PROMPT_CHARS or `params.n` over MAX_N. The message names the field.',
    undefined,
    PARAMS_TOO_LARGE,
  )
  @ApiRateLimitResponse('create', PER_USER_LIMIT)
  @ApiErrorResponse(503, 'No active server can serve the request (its models, max_length or context); the message says why')
  @ApiErrorResponse(504, 'The request expired after PROMPT_EXPIRY_SECONDS (10 minutes) without activity before all its generations were done')
  generateSync(@Body() body: CreatePromptDto, @Ip() clientAddress: string, @Res({ passthrough: true }) response: Response): Promise<string[]> {
    const disconnected = new AbortController();
    response.on('close', () => {
      if (!response.writableFinished) disconnected.abort();
    });
    return this.generation.generateSync(body, clientAddress, disconnected.signal);
  }

  @Post('pop')
  @HttpCode(HttpStatus.OK)
  @RateLimitBucket('pop')
  @ApiOperation({
    summary: 'Ask for work (bridge)',
    description:
      'Checks the server in (the first pop creates it; later pops must repeat its password) and hands it one generation of the oldest request it can serve. ' +
      'With nothing to do, `id` is null and `skipped` counts the waiting requests it could not take, by reason. ' +
      'A server its owner put in maintenance (`PUT /api/v2/workers/{id}`) is checked in but always answered `id: null` with zero counts.',
  })
  @ApiOkResponse({ type: PopResponseDto, description: 'One generation to make, or `id: null` and the skipped counts' })
  @ApiBodyErrorResponses('Malformed body: not a JSON object, or a field missing, of the wrong type or too long. The message names the field.', 'name should not be empty')
  @ApiErrorResponse(401, 'The server name is taken with another password')
  @ApiRateLimitResponse('pop', `${REGISTRATION_LIMIT}; and after too many wrong passwords. ${WRONG_PASSWORD_LIMIT}`)
  @ApiErrorResponse(
    503,
    'A new server name could not be stored (the data directory cannot be written); try again later',
    'The cluster cannot store new servers right now (its data directory cannot be written); try again later',
  )
  pop(@Body() body: PopRequestDto, @Req() request: Request): Promise<PopResponseDto> {
    // The address (req.ip, which honours TRUST_PROXY) is worked out only when the pop registers a new
    // name or a password must be checked: working it out costs on every pop.
    return this.generation.pop(body, () => request.ip ?? 'unknown');
  }

  @Post('submit')
  @HttpCode(HttpStatus.OK)
  @RateLimitBucket('worker')
  @ApiOperation({
    summary: 'Hand in a generation (bridge)',
    description:
      'Completes the popped generation and credits its tokens. A server that missed its deadline may still hand in its text while nobody else has completed the slot. ' +
      'If the request was cancelled meanwhile, the text is still credited and the answer says `cancelled: true`.',
  })
  @ApiOkResponse({ type: SubmitResponseDto, description: 'The generation is stored; its tokens are credited' })
  @ApiBodyErrorResponses('Malformed body (the message names the field), or the generation was already submitted', 'Generation "b4f7c2de-5a7e-4c55-9a2b-1c9a3b0d8e11" was already submitted')
  @ApiErrorResponse(401, 'Not the password of the server that popped it', 'Wrong password for the server that took this generation')
  @ApiErrorResponse(429, WRONG_PASSWORD_LIMIT, 'Too many wrong passwords from your address (RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: 10 a minute); try again in 42 s')
  @ApiErrorResponse(404, 'Unknown id, its request expired, or another server completed the slot after this one missed its deadline', 'No processing generation with id "b4f7c2de-5a7e-4c55-9a2b-1c9a3b0d8e11": it never existed, or its request expired')
  submit(@Body() body: SubmitRequestDto, @Req() request: Request): Promise<SubmitResponseDto> {
    return this.generation.submit(body.id, body.password, body.generation, () => request.ip ?? 'unknown');
  }
}
