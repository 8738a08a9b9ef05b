import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The answers of the v2 text API, field by field as the AI Horde's models (horde/apis/models/v2.py, kobold_v2.py) name them. */

const WORKER_ID = '019e34e3-3109-4ea9-820a-b0c4f6a53c07';
const JOB_ID = 'b4f7c2de-5a7e-4c55-9a2b-1c9a3b0d8e11';
const MODEL = 'KoboldAI/fairseq-dense-13B-Nerys-v2';
const WORKER_NAME = "Db0's Awesome Instance";

export class HordeAsyncResponseDto {
  @ApiProperty({ format: 'uuid', example: '34a9f91a-6db5-4d4c-962f-c4d795739610', description: 'The request id, to poll its status with' })
  id!: string;

  @ApiProperty({ example: 80, description: 'The most this request can cost, in tokens (kudos are tokens here): n × max_length' })
  kudos!: number;
}

export class HordeGenerationDto {
  @ApiProperty({ example: ' as he stood before me.', description: 'The generated text' })
  text!: string;

  @ApiProperty({ example: 0, description: 'Always 0: workers report no sampler state to the cluster' })
  seed!: number;

  @ApiProperty({ format: 'uuid', example: WORKER_ID, description: 'The server (v1 bridge or v2 worker) that generated it' })
  worker_id!: string;

  @ApiProperty({ example: WORKER_NAME, description: "That server's name" })
  worker_name!: string;

  @ApiProperty({ example: MODEL, description: 'The model the server took the job for' })
  model!: string;

  @ApiProperty({ enum: ['ok'], example: 'ok', description: 'Always `ok`: the cluster does not censor' })
  state!: 'ok';
}

export class HordeRequestStatusDto {
  @ApiProperty({ example: 1, description: 'Generations finished' })
  finished!: number;

  @ApiProperty({ example: 0, description: 'Generations a worker is making' })
  processing!: number;

  @ApiProperty({ example: 0, description: 'Generations put back to waiting (missed deadline, or given up by a worker)' })
  restarted!: number;

  @ApiProperty({ example: 0, description: 'Generations no worker has taken yet' })
  waiting!: number;

  @ApiProperty({ example: true, description: 'Nothing is waiting or in progress any more' })
  done!: boolean;

  @ApiProperty({ example: false, description: 'Always false: a job a worker gives up goes back to waiting for another' })
  faulted!: boolean;

  @ApiProperty({ example: 0, description: 'Estimated seconds until done; 0 while unknown (no capable worker has a measured speed yet)' })
  wait_time!: number;

  @ApiProperty({ example: 0, description: 'Waiting generations served before this request\'s next one (see README, "Matching")' })
  queue_position!: number;

  @ApiProperty({ example: 6, description: 'Tokens generated for this request so far (kudos are tokens here)' })
  kudos!: number;

  @ApiProperty({ example: true, description: 'False when no active worker can serve the request' })
  is_possible!: boolean;

  @ApiProperty({
    type: [HordeGenerationDto],
    description: 'The generations so far, in the order they arrived',
    example: [{ text: ' as he stood before me.', seed: 0, worker_id: WORKER_ID, worker_name: WORKER_NAME, model: MODEL, state: 'ok' }],
  })
  generations!: HordeGenerationDto[];
}

export class HordeSkippedDto {
  @ApiProperty({ example: 0, description: 'Waiting requests that want other models' })
  models!: number;

  @ApiProperty({ example: 0, description: 'Waiting requests that need a larger context' })
  max_context_length!: number;

  @ApiProperty({ example: 0, description: 'Waiting requests that want more tokens' })
  max_length!: number;
}

export class HordePopResponseDto {
  @ApiProperty({ type: String, nullable: true, format: 'uuid', example: JOB_ID, description: 'The job, to submit with; null when there is nothing to do' })
  id!: string | null;

  @ApiProperty({ type: [String], example: [JOB_ID], description: 'The job as a list (one job per pop here); empty when there is nothing to do' })
  ids!: string[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { prompt: 'I entered into an argument with a clown', n: 1, max_length: 80, max_context_length: 1024 },
    description: "The body for KoboldAI's api/latest/generate: the request's params, its prompt, n: 1, and always max_length and max_context_length",
  })
  payload?: Record<string, unknown>;

  @ApiPropertyOptional({ example: MODEL, description: 'Which of the offered models the job was taken for' })
  model?: string;

  @ApiPropertyOptional({ example: 120, description: 'Seconds before the job goes back to waiting (the generation deadline)' })
  ttl?: number;

  @ApiProperty({ type: HordeSkippedDto, example: { models: 3, max_context_length: 0, max_length: 1 }, description: 'With nothing to do: the waiting requests this worker could not take, by reason; `{}` with a job' })
  skipped!: HordeSkippedDto | Record<string, never>;
}

export class HordeSubmitResponseDto {
  @ApiProperty({ example: 6, description: 'Tokens credited (kudos are tokens here); 0 for a faulted job' })
  reward!: number;
}

export class HordeModelDto {
  @ApiProperty({ example: MODEL, description: 'The model' })
  name!: string;

  @ApiProperty({ example: 1, description: 'Active workers running it' })
  count!: number;

  @ApiProperty({ example: 12.3, description: 'Their summed speed, tokens per second' })
  performance!: number;

  @ApiProperty({ example: 2, description: 'Waiting requests that want it' })
  queued!: number;

  @ApiProperty({ example: 2, description: 'Waiting requests that want it' })
  jobs!: number;

  @ApiProperty({ example: 0, description: 'Not estimated: always 0' })
  eta!: number;

  @ApiProperty({ example: 'text', description: 'Always `text`' })
  type!: 'text';
}

export class HordeKudosDetailsDto {
  @ApiProperty({ example: 30, description: 'Tokens generated' })
  generated!: number;

  @ApiProperty({ example: 0, description: 'Always 0: no kudos for uptime' })
  uptime!: number;
}

export class HordeWorkerDto {
  @ApiProperty({ example: 'text', description: 'Always `text`' })
  type!: 'text';

  @ApiProperty({ example: WORKER_NAME, description: 'Its public name' })
  name!: string;

  @ApiProperty({ format: 'uuid', example: WORKER_ID, description: 'Its id, stable across restarts' })
  id!: string;

  @ApiProperty({ example: true, description: 'Whether it popped within STALE_SERVER_SECONDS' })
  online!: boolean;

  @ApiProperty({ example: 2, description: 'Generations submitted' })
  requests_fulfilled!: number;

  @ApiProperty({ example: 30, description: 'Tokens generated (kudos are tokens here)' })
  kudos_rewards!: number;

  @ApiProperty({ type: HordeKudosDetailsDto, example: { generated: 30, uptime: 0 }, description: 'Where its kudos come from' })
  kudos_details!: HordeKudosDetailsDto;

  @ApiProperty({ example: '12.3 tokens per second', description: 'Speed over its recent jobs' })
  performance!: string;

  @ApiProperty({ example: 1, description: 'Always 1: one generation at a time' })
  threads!: number;

  @ApiProperty({ example: 3600, description: 'Seconds between its first and its latest pop' })
  uptime!: number;

  @ApiProperty({ example: false, description: 'Set by its owner (`PUT /api/v2/workers/{id}`): a worker in maintenance takes no job' })
  maintenance_mode!: boolean;

  @ApiProperty({ example: false, description: 'Always false' })
  paused!: boolean;

  @ApiProperty({ type: String, nullable: true, example: 'Back after a GPU swap at 9 UTC', description: "Its owner's note (`PUT /api/v2/workers/{id}`), null when none" })
  info!: string | null;

  @ApiProperty({ example: false, description: 'Always false' })
  nsfw!: boolean;

  @ApiProperty({ example: false, description: 'Always false: the cluster has no trust levels' })
  trusted!: boolean;

  @ApiProperty({ example: false, description: 'Always false' })
  flagged!: boolean;

  @ApiProperty({ example: 0, description: 'Always 0' })
  uncompleted_jobs!: number;

  @ApiProperty({ type: [String], example: [MODEL], description: 'The model it is listed with' })
  models!: string[];

  @ApiProperty({ example: 80, description: 'Most tokens it generates for one request' })
  max_length!: number;

  @ApiProperty({ example: 1024, description: 'Largest context it accepts' })
  max_context_length!: number;
}

/** `PUT /api/v2/workers/{id}`: what changed, as the AI Horde's ModifyWorker answer (only the fields sent). */
export class HordeModifiedWorkerDto {
  @ApiPropertyOptional({ example: true, description: 'The maintenance mode now, when `maintenance` was sent' })
  maintenance?: boolean;

  @ApiPropertyOptional({ example: 'Back after a GPU swap at 9 UTC', description: 'The note now, when `info` was sent' })
  info?: string;
}

/** `DELETE /api/v2/workers/{id}`: the worker deleted, as the AI Horde's DeletedWorker answer. */
export class HordeDeletedWorkerDto {
  @ApiProperty({ format: 'uuid', example: WORKER_ID, description: 'Its id' })
  deleted_id!: string;

  @ApiProperty({ example: WORKER_NAME, description: 'Its name, free again' })
  deleted_name!: string;
}

export class HordeTokensDto {
  @ApiProperty({ example: 1200, description: 'Tokens' })
  tokens!: number;
}

export class HordeUserRecordsDto {
  @ApiProperty({ type: HordeTokensDto, example: { tokens: 1200 }, description: 'Tokens generated for this user' })
  usage!: HordeTokensDto;

  @ApiProperty({ type: HordeTokensDto, example: { tokens: 5000 }, description: "Tokens this user's workers generated" })
  contribution!: HordeTokensDto;
}

export class HordeUserDto {
  @ApiProperty({ example: 'db0', description: 'The username of the key (`Anonymous` for 0000000000)' })
  username!: string;

  @ApiProperty({ example: 3800, description: 'contributions − usage, in tokens: the fair-share balance' })
  kudos!: number;

  @ApiProperty({ example: 30, description: 'Unfinished requests allowed at once (MAX_WAITING_REQUESTS_PER_USER)' })
  concurrency!: number;

  @ApiProperty({ example: 1, description: 'Active workers owned' })
  worker_count!: number;

  @ApiProperty({ type: [String], example: [WORKER_ID], description: 'Their ids' })
  worker_ids!: string[];

  @ApiProperty({ type: HordeUserRecordsDto, example: { usage: { tokens: 1200 }, contribution: { tokens: 5000 } }, description: 'Usage and contributions, in tokens' })
  records!: HordeUserRecordsDto;
}

export class HordePerformanceDto {
  @ApiProperty({ example: 3, description: 'Waiting requests' })
  queued_requests!: number;

  @ApiProperty({ example: 3, description: 'Waiting requests (all are text)' })
  queued_text_requests!: number;

  @ApiProperty({ example: 2, description: 'Active workers' })
  worker_count!: number;

  @ApiProperty({ example: 2, description: 'Active workers (all are text)' })
  text_worker_count!: number;

  @ApiProperty({ example: 2, description: 'Active workers (one thread each)' })
  thread_count!: number;

  @ApiProperty({ example: 2, description: 'Active workers (one thread each)' })
  text_thread_count!: number;

  @ApiProperty({ example: 0, description: 'Not counted: always 0' })
  queued_tokens!: number;

  @ApiProperty({ example: 640, description: 'Tokens generated in the last minute' })
  past_minute_tokens!: number;

  @ApiProperty({ example: 0, description: 'Always 0 (no images)' })
  queued_megapixelsteps!: number;

  @ApiProperty({ example: 0, description: 'Always 0 (no images)' })
  past_minute_megapixelsteps!: number;

  @ApiProperty({ example: 0, description: 'Always 0 (no interrogation)' })
  queued_forms!: number;

  @ApiProperty({ example: 0, description: 'Always 0 (no interrogation)' })
  interrogator_count!: number;

  @ApiProperty({ example: 0, description: 'Always 0 (no interrogation)' })
  interrogator_thread_count!: number;
}

export class HordeHeartbeatDto {
  @ApiProperty({ example: 'OK', description: 'Always `OK`' })
  message!: string;

  @ApiProperty({ example: '0.1.0', description: "The cluster's version" })
  version!: string;
}
