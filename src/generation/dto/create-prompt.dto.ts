import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
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

export const MAX_USERNAME_CHARS = 100;
export const MAX_MODEL_NAME_CHARS = 200;
export const MAX_TOKENS = 1_000_000;

/**
 * KoboldAI `api/latest/generate` parameters. Any other KoboldAI parameter (temperature, rep_pen, top_p,
 * frmttriminc, ...) is passed to the worker untouched; the fields below are the ones the cluster reads.
 */
export class GenerationParamsDto {
  /** Generations wanted. Unlike KoboldAI's "Gens per action", it can be high: each server makes one at a time. */
  @ApiPropertyOptional({ minimum: 1, default: 1, example: 2 })
  @IsOptional()
  @IsInt()
  @Min(1)
  n?: number;

  /** Tokens to generate. Servers with a lower limit skip the request. */
  @ApiPropertyOptional({ minimum: 1, default: 80, example: 16 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_TOKENS)
  max_length?: number;

  /** Context size, in tokens, the request needs. Servers with a smaller context skip it. */
  @ApiPropertyOptional({ minimum: 1, default: 1024, example: 1024 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_TOKENS)
  max_content_length?: number;

  /** KoboldAI CLUSTER mode's name for `max_content_length`; the same wish. */
  @ApiPropertyOptional({ minimum: 1, example: 1024 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_TOKENS)
  max_context_length?: number;

  [parameter: string]: unknown;
}

/** The original KoboldAI-cluster README's request: Swagger UI's "Try it out" sends exactly this. */
export const CLOWN_PROMPT_EXAMPLE = {
  prompt: 'I entered into an argument with a clown',
  params: { max_length: 16, frmttriminc: true, n: 2 },
  username: 'db0',
  models: ['KoboldAI/fairseq-dense-13B-Nerys-v2'],
};

export class CreatePromptDto {
  /** The text to continue. */
  @ApiProperty({ example: 'I entered into an argument with a clown' })
  @IsString()
  @IsNotEmpty()
  prompt!: string;

  /** KoboldAI generation parameters, as for its `api/latest/generate`, plus `n`. */
  @ApiPropertyOptional({ type: GenerationParamsDto, example: { max_length: 16, frmttriminc: true, n: 2 } })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => GenerationParamsDto)
  params?: GenerationParamsDto;

  /**
   * Who the usage is counted for. Empty or left out: `Anonymous` (KoboldAI United started without
   * `--apikey` sends `""`, as the original KoboldAI-cluster accepted).
   * No control, bidirectional-override or invisible characters (see "Names" in the README).
   */
  @ApiPropertyOptional({ default: 'Anonymous', maxLength: MAX_USERNAME_CHARS, example: 'db0' })
  @Transform(({ value }: { value: unknown }) => (value === '' ? undefined : value))
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_USERNAME_CHARS)
  @IsName()
  username?: string;

  /** Only servers running one of these models may serve the request; leave out for any model. Names follow the rule of model names. */
  @ApiPropertyOptional({ type: [String], example: ['KoboldAI/fairseq-dense-13B-Nerys-v2'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(MAX_MODEL_NAME_CHARS, { each: true })
  @IsName({ each: true })
  models?: string[];
}
