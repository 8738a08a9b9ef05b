import { ApiProperty } from '@nestjs/swagger';

export class SubmitResponseDto {
  /** Tokens credited to the server's owner for this generation (GPT-2 tokenizer). */
  @ApiProperty({ example: 7 })
  reward!: number;
}
