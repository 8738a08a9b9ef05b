import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class SubmitResponseDto {
  /** Tokens credited to the server's owner for this generation (GPT-2 tokenizer). */
  @ApiProperty({ example: 7 })
  reward!: number;

  /** Present (true) when the request was cancelled while this generation was in progress: the text was still credited. */
  @ApiPropertyOptional({ example: true })
  cancelled?: true;
}
