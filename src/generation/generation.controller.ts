import { Body, Controller, Get, HttpCode, HttpStatus, Param, Post, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiGatewayTimeoutResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { ErrorResponseDto } from '../common/http/error-response.dto';
import { RateLimitBucket } from '../common/rate-limit/rate-limit-bucket.decorator';
import { CreatePromptDto } from './dto/create-prompt.dto';
import { PopRequestDto } from './dto/pop-request.dto';
import { PopResponseDto } from './dto/pop-response.dto';
import { PromptCreatedDto } from './dto/prompt-created.dto';
import { PromptStatusDto } from './dto/prompt-status.dto';
import { SubmitRequestDto } from './dto/submit-request.dto';
import { SubmitResponseDto } from './dto/submit-response.dto';
import { GenerationService } from './generation.service';

@ApiTags('Generation')
@ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Malformed body: the message names the field' })
@ApiTooManyRequestsResponse({ type: ErrorResponseDto, description: 'Rate limit reached' })
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
      '`POST /generate/async` is the same endpoint under the seed server\'s name.',
  })
  @ApiOkResponse({ type: PromptCreatedDto })
  createRequest(@Body() body: CreatePromptDto): PromptCreatedDto {
    return { id: this.generation.createRequest(body).id };
  }

  @Get('prompt/:id')
  @RateLimitBucket('status')
  @ApiOperation({ summary: 'Status and generations of a request', description: 'Reading the status does not keep the request from expiring.' })
  @ApiOkResponse({ type: PromptStatusDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Unknown or expired id' })
  status(@Param('id') id: string): PromptStatusDto {
    return PromptStatusDto.from(this.generation.getRequest(id));
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
  @ApiOkResponse({ type: [String], description: 'The generations', schema: { type: 'array', items: { type: 'string' }, example: [' as he stood before me.', ' and lost.'] } })
  @ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: 'No active server can serve the request; the message says why' })
  @ApiGatewayTimeoutResponse({ type: ErrorResponseDto, description: 'The request expired before it was complete' })
  generateSync(@Body() body: CreatePromptDto, @Res({ passthrough: true }) response: Response): Promise<string[]> {
    const disconnected = new AbortController();
    response.on('close', () => {
      if (!response.writableFinished) disconnected.abort();
    });
    return this.generation.generateSync(body, disconnected.signal);
  }

  @Post('pop')
  @HttpCode(HttpStatus.OK)
  @RateLimitBucket('pop')
  @ApiOperation({
    summary: 'Ask for work (bridge)',
    description:
      'Checks the server in (the first pop creates it; later pops must repeat its password) and hands it one generation of the oldest request it can serve. ' +
      'With nothing to do, `id` is null and `skipped` counts the waiting requests it could not take, by reason.',
  })
  @ApiOkResponse({ type: PopResponseDto })
  @ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'The server name is taken with another password' })
  pop(@Body() body: PopRequestDto): Promise<PopResponseDto> {
    return this.generation.pop(body);
  }

  @Post('submit')
  @HttpCode(HttpStatus.OK)
  @RateLimitBucket('worker')
  @ApiOperation({ summary: 'Hand in a generation (bridge)', description: 'Completes the popped generation and credits its tokens.' })
  @ApiOkResponse({ type: SubmitResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'Unknown id, or its request expired' })
  @ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'Not the password of the server that popped it' })
  submit(@Body() body: SubmitRequestDto): Promise<SubmitResponseDto> {
    return this.generation.submit(body.id, body.password, body.generation);
  }
}
