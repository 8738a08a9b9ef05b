import { ApiProperty } from '@nestjs/swagger';

/** What one user used and contributed, and where that leaves them. */
export class UserDto {
  /** The username, as passed with requests and bridge pops. */
  @ApiProperty({ example: 'db0' })
  username!: string;

  /** Tokens generated for this user's requests. */
  @ApiProperty({ example: 1200 })
  usage!: number;

  /** Tokens this user's servers generated for others. */
  @ApiProperty({ example: 5000 })
  contributions!: number;

  /** contributions − usage: a positive balance gives this user's requests priority (fair share). */
  @ApiProperty({ example: 3800 })
  balance!: number;

  /** This user's requests still waiting or in progress. */
  @ApiProperty({ example: 1 })
  waiting_requests!: number;
}
