import { ApiProperty } from '@nestjs/swagger';
import { describePerformance, KoboldServer, tokensPerSecond } from '../domain/kobold-server';

/** A server's public information and statistics. Never carries its password or owner's secrets. */
export class ServerDto {
  /** The server's public name, as its bridge announces it. */
  @ApiProperty({ example: "Db0's Awesome Instance" })
  name!: string;

  /** The server's uuid, stable across restarts and machines. */
  @ApiProperty({ format: 'uuid', example: '019e34e3-3109-4ea9-820a-b0c4f6a53c07' })
  id!: string;

  /** The model its KoboldAI instance runs. */
  @ApiProperty({ example: 'KoboldAI/fairseq-dense-2.7B-Nerys' })
  model!: string;

  /** Most tokens it generates for one request. */
  @ApiProperty({ example: 80 })
  max_length!: number;

  /** Largest context, in tokens, it accepts. */
  @ApiProperty({ example: 1632 })
  max_content_length!: number;

  /** Tokens generated for the cluster so far. */
  @ApiProperty({ example: 30 })
  tokens_generated!: number;

  /** Generations submitted so far. */
  @ApiProperty({ example: 2 })
  requests_fulfilled!: number;

  /** Speed over its recent jobs, for people. */
  @ApiProperty({ example: '12.3 tokens per second' })
  latest_performance!: string;

  /** Speed over its recent jobs, for programs; null before its first job. */
  @ApiProperty({ type: Number, nullable: true, example: 12.3 })
  tokens_per_second!: number | null;

  /** Whether it popped within STALE_SERVER_SECONDS. */
  @ApiProperty({ example: true })
  online!: boolean;

  /** When it last popped. */
  @ApiProperty({ format: 'date-time', example: '2026-11-24T20:00:00.000Z' })
  last_seen!: string;

  static from(server: KoboldServer, online: boolean): ServerDto {
    const tps = tokensPerSecond(server);
    return {
      name: server.name,
      id: server.id,
      model: server.model,
      max_length: server.maxLength,
      max_content_length: server.maxContentLength,
      tokens_generated: server.tokensGenerated,
      requests_fulfilled: server.requestsFulfilled,
      latest_performance: describePerformance(server),
      tokens_per_second: tps === null ? null : Math.round(tps * 100) / 100,
      online,
      last_seen: new Date(server.lastSeenAt).toISOString(),
    };
  }
}
