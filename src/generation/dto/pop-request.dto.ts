import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { MAX_MODEL_NAME_CHARS, MAX_TOKENS, MAX_USERNAME_CHARS } from './create-prompt.dto';

export const MAX_SERVER_NAME_CHARS = 100;
export const MAX_PASSWORD_CHARS = 256;

/** What a bridge sends when it asks for work. Every pop is also the server's check-in. */
export class PopRequestDto {
  /** The server owner's username, credited with its contributions. */
  @ApiProperty({ maxLength: MAX_USERNAME_CHARS, example: 'db0' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_USERNAME_CHARS)
  username!: string;

  /** The server's password: the first pop with a name sets it, later pops must repeat it. */
  @ApiProperty({ maxLength: MAX_PASSWORD_CHARS, example: 'correct horse battery staple' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_PASSWORD_CHARS)
  password!: string;

  /** The server's public name; its stats follow this name. */
  @ApiProperty({ maxLength: MAX_SERVER_NAME_CHARS, example: "Db0's Awesome Instance" })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_SERVER_NAME_CHARS)
  name!: string;

  /** The model the KoboldAI instance has loaded. */
  @ApiProperty({ maxLength: MAX_MODEL_NAME_CHARS, example: 'KoboldAI/fairseq-dense-13B-Nerys-v2' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_MODEL_NAME_CHARS)
  model!: string;

  /** Most tokens the server generates for one request. */
  @ApiPropertyOptional({ minimum: 1, default: 512, example: 80 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_TOKENS)
  max_length?: number;

  /** Largest context, in tokens, the server accepts. */
  @ApiPropertyOptional({ minimum: 1, default: 2048, example: 2048 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_TOKENS)
  max_content_length?: number;

  /** Usernames whose requests this server serves first. */
  @ApiPropertyOptional({ type: [String], example: ['db0'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(MAX_USERNAME_CHARS, { each: true })
  priority_usernames?: string[];
}
