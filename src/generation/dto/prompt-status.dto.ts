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

  /**
   * Waiting generations served before this request's next one, in the line of the kind of active server able to
   * serve it (same model, max_length and max_content_length) that has the fewest ahead of it; when no such server
   * is active, the waiting generations ahead of it in the whole queue. Requests of a server's priority usernames
   * are not counted.
   */
  @ApiProperty({
    example: 3,
    description:
      "Waiting generations served before this request's next one, in the line of the kind of active server able to serve it " +
      '(same model, max_length and max_content_length) with the fewest ahead of it: 0 means the next pop of such a server takes it. ' +
      'With one kind of capable server this is exactly the generations it serves first; with several kinds their lines overlap, and ' +
      'the exact union is not computed (see README, "Matching"). When no capable server is active: the waiting generations ahead in the whole queue.',
  })
  queue_position!: number;

  /** Estimated seconds until the request is done, from those servers' measured speed; null when unknown or impossible. */
  @ApiProperty({
    type: Number,
    nullable: true,
    example: 42,
    description:
      'Estimated seconds until the request is done: the soonest any one kind of capable active server, at the measured speed of its ' +
      'servers together, gets through the generations ahead of this request in its line and this request\'s own; 0 when done; ' +
      'null when no capable server has a measured speed yet, or none is active.',
  })
  wait_time!: number | null;

  /** False when no active server can serve the request (its models, max_length or context). */
  @ApiProperty({ example: true })
  is_possible!: boolean;

  /** Why no active server can serve it, when `is_possible` is false. */
  @ApiProperty({ type: String, nullable: true, example: null })
  impossible_reason!: string | null;

  static fromStanding({ request, queuePosition, waitTime, isPossible, impossibleReason }: RequestStanding): PromptStatusDto {
    return {
      finished: request.generations.length,
      processing: request.processing,
      waiting: request.waiting,
      done: request.done,
      restarted: request.restarted,
      cancelled: request.cancelled,
      generations: request.generations,
      queue_position: queuePosition,
      wait_time: waitTime,
      is_possible: isPossible,
      impossible_reason: impossibleReason,
    };
  }
}
