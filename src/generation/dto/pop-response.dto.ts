import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class SkippedCountsDto {
  /** Waiting requests that want other models. */
  @ApiProperty({ example: 3 })
  model!: number;

  /** Waiting requests that want more tokens than the server generates. */
  @ApiProperty({ example: 0 })
  max_length!: number;

  /** Waiting requests that need a larger context than the server has. */
  @ApiProperty({ example: 1 })
  max_content_length!: number;
}

export class PopResponseDto {
  /** The processing generation's id, to submit with; null when there is nothing to do. */
  @ApiProperty({ type: String, format: 'uuid', nullable: true, example: 'b4f7c2de-5a7e-4c55-9a2b-1c9a3b0d8e11' })
  id!: string | null;

  /** The body to send to KoboldAI's `api/latest/generate`: the request's params, its prompt, and `n: 1`. */
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { max_length: 16, frmttriminc: true, prompt: 'I entered into an argument with a clown', n: 1 },
  })
  payload?: Record<string, unknown>;

  /** When there is nothing to do: how many waiting requests this server could not take, by reason. */
  @ApiPropertyOptional({ type: SkippedCountsDto, example: { model: 3, max_length: 0, max_content_length: 1 } })
  skipped?: SkippedCountsDto;
}
