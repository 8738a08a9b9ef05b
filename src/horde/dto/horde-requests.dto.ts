import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsBoolean,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { IsName } from '../../common/validation/is-name.decorator';
import { GenerationParamsDto, MAX_MODEL_NAME_CHARS, MAX_TOKENS, MAX_USERNAME_CHARS } from '../../generation/dto/create-prompt.dto';
import { MAX_PRIORITY_USERNAMES, MAX_SERVER_NAME_CHARS } from '../../generation/dto/pop-request.dto';

/**
 * `POST /api/v2/generate/text/async` (the AI Horde's GenerationInputKobold). Fields the cluster does not
 * use (trusted_workers, slow_workers, softprompt, validated_backends, ...) are accepted and ignored.
 */
export class HordeTextRequestDto {
  /** The text to continue. */
  @ApiProperty({ example: 'I entered into an argument with a clown' })
  @IsString()
  @IsNotEmpty()
  prompt!: string;

  /** KoboldAI generation parameters, with `n`, `max_length` and `max_context_length`; handed to the worker as they are. */
  @ApiPropertyOptional({ type: GenerationParamsDto, example: { n: 1, max_length: 80, max_context_length: 1024, temperature: 0.7 } })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => GenerationParamsDto)
  params?: GenerationParamsDto;

  /** Only workers running one of these models may serve the request; empty or left out: any model. */
  @ApiPropertyOptional({ type: [String], example: ['KoboldAI/fairseq-dense-13B-Nerys-v2'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(MAX_MODEL_NAME_CHARS, { each: true })
  @IsName({ each: true })
  models?: string[];

  /**
   * Worker ids (KoboldAI Lite's worker picker). The cluster matches by model, not by worker: the request
   * may be served by any worker running a model one of these workers runs (see README, "Today's clients").
   */
  @ApiPropertyOptional({ type: [String], example: [] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(100, { each: true })
  workers?: string[];
}

/** `POST /api/v2/generate/text/pop` (the AI Horde's PopInputKobold). bridge_agent, softprompts, threads, nsfw, ... are accepted and ignored. */
export class HordeTextPopDto {
  /** The worker's public name; it follows the uniqueness rule of server names. */
  @ApiProperty({ maxLength: MAX_SERVER_NAME_CHARS, example: "Db0's Awesome Instance" })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_SERVER_NAME_CHARS)
  @IsName()
  name!: string;

  /** The models it offers, tried in this order; the first is the one it is listed with. */
  @ApiProperty({ type: [String], example: ['KoboldAI/fairseq-dense-13B-Nerys-v2'] })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(20)
  @IsString({ each: true })
  @IsNotEmpty({ each: true })
  @MaxLength(MAX_MODEL_NAME_CHARS, { each: true })
  @IsName({ each: true })
  models!: string[];

  /** Most tokens the worker generates for one request. */
  @ApiPropertyOptional({ minimum: 1, default: 512, example: 80 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_TOKENS)
  max_length?: number;

  /** Largest context, in tokens, the worker accepts. */
  @ApiPropertyOptional({ minimum: 1, default: 2048, example: 1024 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_TOKENS)
  max_context_length?: number;

  /** Usernames (of this cluster) whose requests this worker serves first; its owner always is one. */
  @ApiPropertyOptional({ type: [String], example: [] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_PRIORITY_USERNAMES)
  @IsString({ each: true })
  @MaxLength(MAX_USERNAME_CHARS, { each: true })
  @IsName({ each: true })
  priority_usernames?: string[];
}

export const SUBMIT_STATES = ['ok', 'censored', 'faulted', 'csam'] as const;

/** `POST /api/v2/generate/text/submit` (the AI Horde's SubmitInput). */
export class HordeTextSubmitDto {
  /** The job id the pop answered. */
  @ApiProperty({ example: 'b4f7c2de-5a7e-4c55-9a2b-1c9a3b0d8e11' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  id!: string;

  /** The generated text; required unless `state` is `faulted`. */
  @ApiPropertyOptional({ example: ' as he stood before me.' })
  @IsOptional()
  @IsString()
  generation?: string;

  /** `faulted`: the worker gives the job up, the slot goes back to waiting and nothing is credited. */
  @ApiPropertyOptional({ enum: SUBMIT_STATES, default: 'ok', example: 'ok' })
  @IsOptional()
  @IsIn(SUBMIT_STATES)
  state?: (typeof SUBMIT_STATES)[number];

  /** Accepted and ignored (the AI-Horde-Worker sends 0, or -1 with a fault). */
  @ApiPropertyOptional({ example: 0 })
  @IsOptional()
  @IsInt()
  seed?: number;
}

/** `PUT /api/v2/workers/{id}` (the AI Horde's ModifyWorkerInput, as KoboldAI Lite sends it). */
export class HordeModifyWorkerDto {
  /** true: the worker takes no job (its v2 pops answer 403, its v1 pops nothing) until it is set false again. */
  @ApiPropertyOptional({ example: true, description: 'true: the worker takes no job (a v2 pop answers 403, a v1 pop `id: null`) until set false again' })
  @IsOptional()
  @IsBoolean()
  maintenance?: boolean;

  /** The owner's note, shown as the worker's `info`; '' clears it. */
  @ApiPropertyOptional({ example: 'Back after a GPU swap at 9 UTC', maxLength: 1000, description: "The owner's note, listed as the worker's `info` (at most 1000 characters); `\"\"` clears it" })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  info?: string;
}
