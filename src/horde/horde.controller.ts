import { Body, Controller, Delete, Get, Headers, HttpCode, HttpStatus, Ip, Param, Post, Put, Query, Req } from '@nestjs/common';
import { ApiAcceptedResponse, ApiExcludeEndpoint, ApiHeader, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { ApiBodyErrorResponses, ApiErrorResponse, ApiRateLimitResponse } from '../common/http/api-error-response.decorator';
import { RateLimitBucket } from '../common/rate-limit/rate-limit-bucket.decorator';
import { HordeModifyWorkerDto, HordeTextPopDto, HordeTextRequestDto, HordeTextSubmitDto } from './dto/horde-requests.dto';
import {
  HordeAsyncResponseDto,
  HordeDeletedWorkerDto,
  HordeHeartbeatDto,
  HordeModelDto,
  HordeModifiedWorkerDto,
  HordePerformanceDto,
  HordePopResponseDto,
  HordeRequestStatusDto,
  HordeSubmitResponseDto,
  HordeUserDto,
  HordeWorkerDto,
} from './dto/horde-responses.dto';
import { HordeService } from './horde.service';

export const HORDE_TAG = 'AI Horde v2 (text)';

const API_KEY_HEADER = ApiHeader({
  name: 'apikey',
  required: false,
  description: 'The API key `POST /users` answered; `0000000000` (or none) is anonymous',
  example: '0000000000',
});
const CLIENT_AGENT_HEADER = ApiHeader({ name: 'Client-Agent', required: false, description: 'Accepted and ignored, e.g. `KoboldAiLite:17`' });
const BAD_KEY = 'No user holds this API key: register a username with POST /users to get one, or use the anonymous key 0000000000';
const UNKNOWN_REQUEST = 'No request with id "34a9f91a-6db5-4d4c-962f-c4d795739610": it never existed or expired after 600s without activity';
const ANONYMOUS_WORKER = 'Anonymous workers are not allowed: register a username with POST /users and pop with its API key';
const NOT_OWNER = 'Worker "019e34e3-3109-4ea9-820a-b0c4f6a53c07" is not owned by the user of this API key';
const UNKNOWN_WORKER = 'No server with id "019e34e3-3109-4ea9-820a-b0c4f6a53c07"';
const WORKER_ID_PARAM = ApiParam({ name: 'id', format: 'uuid', description: 'The worker id `GET /api/v2/workers` lists', example: '019e34e3-3109-4ea9-820a-b0c4f6a53c07' });

/**
 * The text subset of the AI Horde's v2 API, for the clients people use today (KoboldAI United's Horde
 * backend, KoboldAI Lite, SillyTavern) and its workers (AI-Horde-Worker scribe, KoboldCpp's embedded
 * worker). Browsers reach it through the app's CORS setup (any origin, the `apikey` and `Client-Agent` headers).
 */
@ApiTags(HORDE_TAG)
@Controller('api/v2')
export class HordeController {
  constructor(private readonly horde: HordeService) {}

  @Post('generate/text/async')
  @HttpCode(HttpStatus.ACCEPTED)
  @RateLimitBucket('create')
  @API_KEY_HEADER
  @CLIENT_AGENT_HEADER
  @ApiOperation({ summary: 'Request text generations', description: 'Queues the prompt for `params.n` generations; poll `GET /api/v2/generate/text/status/{id}`.' })
  @ApiAcceptedResponse({ type: HordeAsyncResponseDto, description: 'Queued' })
  @ApiBodyErrorResponses('Malformed body (the message names the field), or `workers` names no known worker')
  @ApiErrorResponse(401, 'Unknown API key', BAD_KEY)
  @ApiRateLimitResponse('create', 'or the requester already has MAX_WAITING_REQUESTS_PER_USER (30) unfinished requests')
  createRequest(@Headers('apikey') apiKey: string | undefined, @Body() body: HordeTextRequestDto, @Ip() clientAddress: string): Promise<HordeAsyncResponseDto> {
    return this.horde.createRequest(apiKey, body, clientAddress);
  }

  @Get('generate/text/status/:id')
  @RateLimitBucket('poll')
  @CLIENT_AGENT_HEADER
  @ApiOperation({ summary: 'Status and generations of a request', description: 'Reading the status does not keep the request from expiring.' })
  @ApiParam({ name: 'id', format: 'uuid', description: 'The id `POST /api/v2/generate/text/async` answered', example: '34a9f91a-6db5-4d4c-962f-c4d795739610' })
  @ApiOkResponse({ type: HordeRequestStatusDto, description: 'Where the request stands, and its generations so far' })
  @ApiErrorResponse(404, 'Unknown id, or the request expired', UNKNOWN_REQUEST)
  @ApiRateLimitResponse('poll')
  status(@Param('id') id: string): Promise<HordeRequestStatusDto> {
    return this.horde.requestStatus(id);
  }

  @Delete('generate/text/status/:id')
  @API_KEY_HEADER
  @CLIENT_AGENT_HEADER
  @ApiOperation({ summary: 'Cancel a request', description: 'Drops the waiting generations and answers the status; generations in progress still arrive.' })
  @ApiParam({ name: 'id', format: 'uuid', description: 'The id `POST /api/v2/generate/text/async` answered', example: '34a9f91a-6db5-4d4c-962f-c4d795739610' })
  @ApiOkResponse({ type: HordeRequestStatusDto, description: 'Cancelled: the status at that moment' })
  @ApiErrorResponse(404, 'Unknown id, or the request expired', UNKNOWN_REQUEST)
  @ApiRateLimitResponse()
  cancel(@Param('id') id: string): Promise<HordeRequestStatusDto> {
    return this.horde.cancelRequest(id);
  }

  @Post('generate/text/pop')
  @HttpCode(HttpStatus.OK)
  @RateLimitBucket('pop')
  @API_KEY_HEADER
  @ApiOperation({
    summary: 'Ask for work (v2 worker)',
    description:
      'Checks the worker in (the first pop with a name creates it, owned by the user of the API key) and hands it one generation. ' +
      'Its models are tried in order. With nothing to do, `id` is null and `skipped` counts the waiting requests it could not take, by reason.',
  })
  @ApiOkResponse({ type: HordePopResponseDto, description: 'A job, or `id: null` and the skipped counts' })
  @ApiBodyErrorResponses('Malformed body; the message names the field', 'models should not be empty')
  @ApiErrorResponse(401, 'Unknown API key', BAD_KEY)
  @ApiErrorResponse(403, 'The anonymous key, the worker name is taken by another worker, or its owner put it in maintenance', ANONYMOUS_WORKER)
  @ApiRateLimitResponse('pop', 'for too many new names from this address (REGISTRATIONS_PER_HOUR_PER_ADDRESS)')
  pop(@Headers('apikey') apiKey: string | undefined, @Body() body: HordeTextPopDto, @Req() request: Request): Promise<HordePopResponseDto> {
    return this.horde.pop(apiKey, body, () => request.ip ?? 'unknown');
  }

  @Post('generate/text/submit')
  @HttpCode(HttpStatus.OK)
  @RateLimitBucket('worker')
  @API_KEY_HEADER
  @ApiOperation({ summary: 'Hand in a generation (v2 worker)', description: '`state: "faulted"` gives the job up: it goes back to waiting, and nothing is credited.' })
  @ApiOkResponse({ type: HordeSubmitResponseDto, description: 'Stored and credited (or given up)' })
  @ApiBodyErrorResponses('Malformed body, or the generation was already submitted', 'Generation "b4f7c2de-5a7e-4c55-9a2b-1c9a3b0d8e11" was already submitted')
  @ApiErrorResponse(401, 'Unknown API key', BAD_KEY)
  @ApiErrorResponse(403, 'The anonymous key, or the job was popped by a worker of another key')
  @ApiErrorResponse(404, 'Unknown id, its request expired, or another worker completed the slot')
  submit(@Headers('apikey') apiKey: string | undefined, @Body() body: HordeTextSubmitDto, @Req() request: Request): Promise<HordeSubmitResponseDto> {
    return this.horde.submit(apiKey, body, () => request.ip ?? 'unknown');
  }

  @Get('find_user')
  @API_KEY_HEADER
  @ApiOperation({ summary: 'The user of an API key', description: 'kudos = contributions − usage, in tokens.' })
  @ApiOkResponse({ type: HordeUserDto, description: "The key's user" })
  @ApiErrorResponse(401, 'Unknown API key', BAD_KEY)
  @ApiRateLimitResponse()
  findUser(@Headers('apikey') apiKey: string | undefined): Promise<HordeUserDto> {
    return this.horde.findUser(apiKey);
  }

  @Get('workers')
  @ApiOperation({ summary: 'Active workers (v1 bridges and v2 workers alike)', description: 'Every server that popped within STALE_SERVER_SECONDS, whichever API it speaks, in the AI Horde\'s worker shape.' })
  @ApiQuery({ name: 'type', required: false, description: '`text` (any other type answers an empty list)', example: 'text' })
  @ApiOkResponse({ type: [HordeWorkerDto], description: 'The active workers' })
  @ApiRateLimitResponse()
  workers(@Query('type') type?: string): Promise<HordeWorkerDto[]> {
    return this.horde.workers(type);
  }

  @Get('workers/:id')
  @ApiOperation({ summary: 'One worker', description: 'Stale ones too, with `online: false`.' })
  @WORKER_ID_PARAM
  @ApiOkResponse({ type: HordeWorkerDto, description: 'The worker' })
  @ApiErrorResponse(404, 'Unknown worker', UNKNOWN_WORKER)
  @ApiRateLimitResponse()
  worker(@Param('id') id: string): Promise<HordeWorkerDto> {
    return this.horde.worker(id);
  }

  @Put('workers/:id')
  @API_KEY_HEADER
  @ApiOperation({
    summary: "Change one's worker (KoboldAI Lite's form)",
    description:
      'By the key of its owner. `maintenance: true`: the worker takes no job until set false again (its v2 pops answer 403 with a message, ' +
      'its v1 pops `id: null`; it stays listed with `maintenance_mode: true`). `info`: a note listed with it (`""` clears it). Answers what changed.',
  })
  @WORKER_ID_PARAM
  @ApiOkResponse({ type: HordeModifiedWorkerDto, description: 'Changed' })
  @ApiBodyErrorResponses('Neither maintenance nor info, or an info over 1000 characters', 'info must be shorter than or equal to 1000 characters')
  @ApiErrorResponse(401, 'Unknown API key', BAD_KEY)
  @ApiErrorResponse(403, 'The worker is not owned by the user of this key (the anonymous key owns none)', NOT_OWNER)
  @ApiErrorResponse(404, 'Unknown worker', UNKNOWN_WORKER)
  @ApiRateLimitResponse()
  modifyWorker(@Headers('apikey') apiKey: string | undefined, @Param('id') id: string, @Body() body: HordeModifyWorkerDto): Promise<HordeModifiedWorkerDto> {
    return this.horde.modifyWorker(apiKey, id, body);
  }

  @Delete('workers/:id')
  @API_KEY_HEADER
  @CLIENT_AGENT_HEADER
  @ApiOperation({
    summary: "Delete one's worker (KoboldAI Lite's delete button)",
    description: 'By the key of its owner. Its name is free again; the tokens it generated stay its owner\'s contributions. A worker that pops again with the name is created anew.',
  })
  @WORKER_ID_PARAM
  @ApiOkResponse({ type: HordeDeletedWorkerDto, description: 'Deleted' })
  @ApiErrorResponse(401, 'Unknown API key', BAD_KEY)
  @ApiErrorResponse(403, 'The worker is not owned by the user of this key (the anonymous key owns none)', NOT_OWNER)
  @ApiErrorResponse(404, 'Unknown worker', UNKNOWN_WORKER)
  @ApiRateLimitResponse()
  deleteWorker(@Headers('apikey') apiKey: string | undefined, @Param('id') id: string): Promise<HordeDeletedWorkerDto> {
    return this.horde.deleteWorker(apiKey, id);
  }

  @Get('status/models')
  @ApiOperation({ summary: 'Models of the active workers', description: 'With how many active workers run each, their summed speed and the waiting requests that want it.' })
  @ApiQuery({ name: 'type', required: false, description: '`text` (any other type answers an empty list)', example: 'text' })
  @ApiOkResponse({ type: [HordeModelDto], description: 'The models of active workers' })
  @ApiRateLimitResponse()
  models(@Query('type') type?: string): Promise<HordeModelDto[]> {
    return this.horde.models(type);
  }

  @Get('status/performance')
  @ApiOperation({ summary: 'The cluster at a glance', description: 'Waiting requests, active workers and the tokens of the last minute (KoboldAI Lite reads it at start).' })
  @ApiOkResponse({ type: HordePerformanceDto, description: 'The figures' })
  @ApiRateLimitResponse()
  performance(): Promise<HordePerformanceDto> {
    return this.horde.performance();
  }

  @Get('status/heartbeat')
  @ApiOperation({ summary: 'Is the cluster up?', description: 'SillyTavern reads only whether it answers 200.' })
  @ApiOkResponse({ type: HordeHeartbeatDto, description: 'Up' })
  @ApiRateLimitResponse()
  heartbeat(): HordeHeartbeatDto {
    return this.horde.heartbeat();
  }
}

/**
 * KoboldAI United's Horde backend cancels at `{url}/v2/generate/text/status/{id}`, without the `/api`
 * (modeling/inference_models/horde/class.py, abort_generation): served here so that its abort works.
 */
@Controller('v2')
export class UnitedAbortController {
  constructor(private readonly horde: HordeService) {}

  @Delete('generate/text/status/:id')
  @ApiExcludeEndpoint()
  cancel(@Param('id') id: string): Promise<HordeRequestStatusDto> {
    return this.horde.cancelRequest(id);
  }
}
