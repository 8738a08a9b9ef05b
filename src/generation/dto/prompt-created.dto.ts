import { ApiProperty } from '@nestjs/swagger';

export class PromptCreatedDto {
  /** The request's id, to poll `GET /generate/prompt/{id}` with. */
  @ApiProperty({ format: 'uuid', example: '34a9f91a-6db5-4d4c-962f-c4d795739610' })
  id!: string;
}
