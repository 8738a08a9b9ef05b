import { ApiProperty } from '@nestjs/swagger';
import { IsNotEmpty, IsString, MaxLength } from 'class-validator';
import { MAX_PASSWORD_CHARS } from './pop-request.dto';

export class SubmitRequestDto {
  /** The id the pop answered. */
  @ApiProperty({ example: 'b4f7c2de-5a7e-4c55-9a2b-1c9a3b0d8e11' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  id!: string;

  /** The password of the server that popped this generation. */
  @ApiProperty({ example: 'correct horse battery staple' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_PASSWORD_CHARS)
  password!: string;

  /** The generated text, as KoboldAI returned it. */
  @ApiProperty({ example: ' as he stood before me.' })
  @IsString()
  generation!: string;
}
