import { ApiProperty } from '@nestjs/swagger';
import { WaitingPrompt } from '../domain/waiting-prompt';

export class PromptStatusDto {
  /** Generations finished. The request is complete when this equals its `n`. */
  @ApiProperty({ example: 1 })
  finished!: number;

  /** Generations a server is working on. */
  @ApiProperty({ example: 0 })
  processing!: number;

  /** Generations no server has taken yet. */
  @ApiProperty({ example: 1 })
  waiting!: number;

  /** True when nothing is waiting or in progress any more. */
  @ApiProperty({ example: false })
  done!: boolean;

  /** Generations put back to waiting because their server missed its deadline. */
  @ApiProperty({ example: 0 })
  restarted!: number;

  /** True when the request was cancelled. */
  @ApiProperty({ example: false })
  cancelled!: boolean;

  /** The generated texts so far, in the order they arrived. */
  @ApiProperty({ type: [String], example: [' as he stood before me.'] })
  generations!: string[];

  static from(prompt: WaitingPrompt): PromptStatusDto {
    return {
      finished: prompt.finished,
      processing: prompt.processing,
      waiting: prompt.waiting,
      done: prompt.done,
      restarted: prompt.restarted,
      cancelled: prompt.cancelled,
      generations: [...prompt.generations],
    };
  }
}
