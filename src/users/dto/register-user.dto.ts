import { ApiProperty } from '@nestjs/swagger';
import { IsNotEmpty, IsString, MaxLength } from 'class-validator';
import { IsName } from '../../common/validation/is-name.decorator';
import { MAX_USERNAME_CHARS } from '../../generation/dto/create-prompt.dto';

export class RegisterUserDto {
  /** The username to register; it follows the rule of names (see "Names" in the README). */
  @ApiProperty({ maxLength: MAX_USERNAME_CHARS, example: 'db0' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_USERNAME_CHARS)
  @IsName()
  username!: string;
}

export class RegisteredUserDto {
  /** The username, registered. */
  @ApiProperty({ example: 'db0' })
  username!: string;

  /** The API key, shown this once: the cluster stores only its hash. Send it as the `apikey` header of the v2 API. */
  @ApiProperty({ example: 'pVq3M0b1c2d3e4f5g6h7iA' })
  api_key!: string;
}
