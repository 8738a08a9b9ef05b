import { ApiProperty } from '@nestjs/swagger';

/** The one shape of every error the cluster answers. */
export class ErrorResponseDto {
  /** The HTTP status code, repeated. */
  @ApiProperty({ example: 400 })
  statusCode!: number;

  /** The status's name. */
  @ApiProperty({ example: 'Bad Request' })
  error!: string;

  /** What went wrong, for people; names the field at fault. */
  @ApiProperty({ example: 'params.n must be an integer number' })
  message!: string;
}
