import { ApiProperty } from '@nestjs/swagger';
import type { RequestStanding } from '../generation.service';

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

  /** Waiting generations the active servers able to serve this request will serve before its next one. */
  @ApiProperty({ example: 3 })
  queue_position!: number;

  /** Estimated seconds until the request is done, from those servers' measured speed; null when unknown or impossible. */
  @ApiProperty({ type: Number, nullable: true, example: 42 })
  wait_time!: number | null;

  /** False when no active server can serve the request (its models, max_length or context). */
  @ApiProperty({ example: true })
  is_possible!: boolean;

  /** Why no active server can serve it, when `is_possible` is false. */
  @ApiProperty({ type: String, nullable: true, example: null })
  impossible_reason!: string | null;

  static fromStanding({ prompt, queuePosition, waitTime, isPossible, impossibleReason }: RequestStanding): PromptStatusDto {
    return {
      finished: prompt.finished,
      processing: prompt.processing,
      waiting: prompt.waiting,
      done: prompt.done,
      restarted: prompt.restarted,
      cancelled: prompt.cancelled,
      generations: [...prompt.generations],
      queue_position: queuePosition,
      wait_time: waitTime,
      is_possible: isPossible,
      impossible_reason: impossibleReason,
    };
  }
}
