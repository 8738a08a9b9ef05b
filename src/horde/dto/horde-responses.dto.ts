import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** The answers of the v2 text API, field by field as the AI Horde's models (horde/apis/models/v2.py, kobold_v2.py) name them. */
export class HordeAsyncResponseDto {
  @ApiProperty({ format: 'uuid', example: '34a9f91a-6db5-4d4c-962f-c4d795739610' })
  id!: string;

  /** The most this request can cost, in tokens (kudos = tokens here): n × max_length. */
  @ApiProperty({ example: 80 })
  kudos!: number;
}

export class HordeGenerationDto {
  @ApiProperty({ example: ' as he stood before me.' })
  text!: string;

  /** Always 0: workers do not report seeds to the cluster. */
  @ApiProperty({ example: 0 })
  seed!: number;

  @ApiProperty({ format: 'uuid', example: '019e34e3-3109-4ea9-820a-b0c4f6a53c07' })
  worker_id!: string;

  @ApiProperty({ example: "Db0's Awesome Instance" })
  worker_name!: string;

  @ApiProperty({ example: 'KoboldAI/fairseq-dense-13B-Nerys-v2' })
  model!: string;

  @ApiProperty({ enum: ['ok'], example: 'ok' })
  state!: 'ok';
}

export class HordeRequestStatusDto {
  @ApiProperty({ example: 1 }) finished!: number;
  @ApiProperty({ example: 0 }) processing!: number;
  @ApiProperty({ example: 0 }) restarted!: number;
  @ApiProperty({ example: 0 }) waiting!: number;
  @ApiProperty({ example: true }) done!: boolean;
  /** Always false: a faulted job goes back to waiting for another worker. */
  @ApiProperty({ example: false }) faulted!: boolean;
  /** Estimated seconds until done; 0 when unknown (no capable worker has a measured speed yet). */
  @ApiProperty({ example: 0 }) wait_time!: number;
  @ApiProperty({ example: 0 }) queue_position!: number;
  /** Tokens generated for this request so far (kudos = tokens here). */
  @ApiProperty({ example: 6 }) kudos!: number;
  @ApiProperty({ example: true }) is_possible!: boolean;
  @ApiProperty({ type: [HordeGenerationDto] }) generations!: HordeGenerationDto[];
}

export class HordeSkippedDto {
  @ApiProperty({ example: 0, description: 'Waiting requests that want other models' }) models!: number;
  @ApiProperty({ example: 0, description: 'Waiting requests that need a larger context' }) max_context_length!: number;
  @ApiProperty({ example: 0, description: 'Waiting requests that want more tokens' }) max_length!: number;
}

export class HordePopResponseDto {
  @ApiProperty({ type: String, nullable: true, format: 'uuid', example: 'b4f7c2de-5a7e-4c55-9a2b-1c9a3b0d8e11' })
  id!: string | null;

  @ApiProperty({ type: [String], example: ['b4f7c2de-5a7e-4c55-9a2b-1c9a3b0d8e11'] })
  ids!: string[];

  /** The body for KoboldAI's api/latest/generate: the request's params, its prompt, n: 1, max_length and max_context_length. */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { prompt: 'I entered into an argument with a clown', n: 1, max_length: 80, max_context_length: 1024 } })
  payload?: Record<string, unknown>;

  @ApiPropertyOptional({ example: 'KoboldAI/fairseq-dense-13B-Nerys-v2' })
  model?: string;

  /** Seconds before the job goes back to waiting (the generation deadline). */
  @ApiPropertyOptional({ example: 60 })
  ttl?: number;

  @ApiProperty({ type: HordeSkippedDto })
  skipped!: HordeSkippedDto | Record<string, never>;
}

export class HordeSubmitResponseDto {
  /** Tokens credited (kudos = tokens here); 0 for a faulted job. */
  @ApiProperty({ example: 6 })
  reward!: number;
}

export class HordeModelDto {
  @ApiProperty({ example: 'KoboldAI/fairseq-dense-13B-Nerys-v2' }) name!: string;
  @ApiProperty({ example: 1, description: 'Active workers running it' }) count!: number;
  @ApiProperty({ example: 12.3, description: 'Their summed speed, tokens per second' }) performance!: number;
  @ApiProperty({ example: 2, description: 'Waiting requests that want it' }) queued!: number;
  @ApiProperty({ example: 2, description: 'Waiting requests that want it' }) jobs!: number;
  @ApiProperty({ example: 0, description: 'Not estimated: always 0' }) eta!: number;
  @ApiProperty({ example: 'text' }) type!: 'text';
}

export class HordeWorkerDto {
  @ApiProperty({ example: 'text' }) type!: 'text';
  @ApiProperty({ example: "Db0's Awesome Instance" }) name!: string;
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: true }) online!: boolean;
  @ApiProperty({ example: 2 }) requests_fulfilled!: number;
  @ApiProperty({ example: 30, description: 'Tokens generated (kudos = tokens here)' }) kudos_rewards!: number;
  @ApiProperty({ example: { generated: 30, uptime: 0 } }) kudos_details!: { generated: number; uptime: number };
  @ApiProperty({ example: '12.3 tokens per second' }) performance!: string;
  @ApiProperty({ example: 1 }) threads!: number;
  @ApiProperty({ example: 3600, description: 'Seconds between its first and its latest pop' }) uptime!: number;
  @ApiProperty({ example: false }) maintenance_mode!: boolean;
  @ApiProperty({ example: false }) paused!: boolean;
  @ApiProperty({ type: String, nullable: true, example: null }) info!: string | null;
  @ApiProperty({ example: false }) nsfw!: boolean;
  @ApiProperty({ example: false }) trusted!: boolean;
  @ApiProperty({ example: false }) flagged!: boolean;
  @ApiProperty({ example: 0 }) uncompleted_jobs!: number;
  @ApiProperty({ type: [String] }) models!: string[];
  @ApiProperty({ example: 80 }) max_length!: number;
  @ApiProperty({ example: 1024 }) max_context_length!: number;
}

export class HordeUserDto {
  @ApiProperty({ example: 'db0' }) username!: string;
  @ApiProperty({ example: 3800, description: 'contributions − usage, in tokens' }) kudos!: number;
  @ApiProperty({ example: 30, description: 'MAX_WAITING_REQUESTS_PER_USER' }) concurrency!: number;
  @ApiProperty({ example: 1, description: 'Active workers owned' }) worker_count!: number;
  @ApiProperty({ type: [String] }) worker_ids!: string[];
  @ApiProperty({ example: { usage: { tokens: 1200 }, contribution: { tokens: 5000 } } })
  records!: { usage: { tokens: number }; contribution: { tokens: number } };
}

export class HordePerformanceDto {
  @ApiProperty({ example: 3 }) queued_requests!: number;
  @ApiProperty({ example: 3 }) queued_text_requests!: number;
  @ApiProperty({ example: 2 }) worker_count!: number;
  @ApiProperty({ example: 2 }) text_worker_count!: number;
  @ApiProperty({ example: 2 }) thread_count!: number;
  @ApiProperty({ example: 2 }) text_thread_count!: number;
  @ApiProperty({ example: 0, description: 'Not counted: always 0' }) queued_tokens!: number;
  @ApiProperty({ example: 640 }) past_minute_tokens!: number;
  @ApiProperty({ example: 0 }) queued_megapixelsteps!: number;
  @ApiProperty({ example: 0 }) past_minute_megapixelsteps!: number;
  @ApiProperty({ example: 0 }) queued_forms!: number;
  @ApiProperty({ example: 0 }) interrogator_count!: number;
  @ApiProperty({ example: 0 }) interrogator_thread_count!: number;
}
