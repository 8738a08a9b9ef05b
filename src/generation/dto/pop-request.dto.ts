import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { isCleanName, IsName } from '../../common/validation/is-name.decorator';
import { MAX_MODEL_NAME_CHARS, MAX_TOKENS, MAX_USERNAME_CHARS } from './create-prompt.dto';

export const MAX_SERVER_NAME_CHARS = 100;
export const MAX_PASSWORD_CHARS = 256;
export const MAX_PRIORITY_USERNAMES = 100;

const isText = (value: unknown, maxChars: number): boolean => typeof value === 'string' && value.length > 0 && value.length <= maxChars;
const isNameText = (value: unknown, maxChars: number): boolean => isText(value, maxChars) && isCleanName(value as string);
const isAbsentOr = (value: unknown, check: (value: unknown) => boolean): boolean => value === undefined || value === null || check(value);
const isTokenCount = (value: unknown): boolean => typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_TOKENS;
const isUsernameList = (value: unknown): boolean =>
  Array.isArray(value) &&
  value.length <= MAX_PRIORITY_USERNAMES &&
  value.every((name) => typeof name === 'string' && name.length <= MAX_USERNAME_CHARS && isCleanName(name));

/**
 * What a bridge sends when it asks for work. Every pop is also the server's check-in.
 *
 * Pop is the hot path, so the decorators below (which Swagger and class-validator read) have a
 * hand-written twin in {@link PopRequestDto.isValidBody}; keep the two in step (its spec compares them).
 */
export class PopRequestDto {
  /**
   * True only for bodies the decorators accept as they are; the rest go through class-validator,
   * which names the faults. Lengths are counted in UTF-16 units, which is never fewer than
   * class-validator counts, so this check is at most stricter.
   */
  static isValidBody(this: void, body: object): boolean {
    const b = body as Record<string, unknown>;
    return (
      isNameText(b.username, MAX_USERNAME_CHARS) &&
      isText(b.password, MAX_PASSWORD_CHARS) &&
      isNameText(b.name, MAX_SERVER_NAME_CHARS) &&
      isNameText(b.model, MAX_MODEL_NAME_CHARS) &&
      isAbsentOr(b.max_length, isTokenCount) &&
      isAbsentOr(b.max_content_length, isTokenCount) &&
      isAbsentOr(b.priority_usernames, isUsernameList)
    );
  }

  /** The server owner's username, credited with its contributions. No control, bidirectional-override or invisible characters (see "Names" in the README). */
  @ApiProperty({ maxLength: MAX_USERNAME_CHARS, example: 'db0' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_USERNAME_CHARS)
  @IsName()
  username!: string;

  /** The server's password: the first pop with a name sets it, later pops must repeat it. */
  @ApiProperty({ maxLength: MAX_PASSWORD_CHARS, example: 'correct horse battery staple' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_PASSWORD_CHARS)
  password!: string;

  /** The server's public name; its stats follow this name. No control, bidirectional-override or invisible characters (see "Names" in the README). */
  @ApiProperty({ maxLength: MAX_SERVER_NAME_CHARS, example: "Db0's Awesome Instance" })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_SERVER_NAME_CHARS)
  @IsName()
  name!: string;

  /** The model the KoboldAI instance has loaded. No control, bidirectional-override or invisible characters (see "Names" in the README). */
  @ApiProperty({ maxLength: MAX_MODEL_NAME_CHARS, example: 'KoboldAI/fairseq-dense-13B-Nerys-v2' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_MODEL_NAME_CHARS)
  @IsName()
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

  /** Usernames whose requests this server serves first; they follow the rule of usernames. */
  @ApiPropertyOptional({ type: [String], example: ['db0'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_PRIORITY_USERNAMES)
  @IsString({ each: true })
  @MaxLength(MAX_USERNAME_CHARS, { each: true })
  @IsName({ each: true })
  priority_usernames?: string[];
}
