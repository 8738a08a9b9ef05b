import { ApiProperty } from '@nestjs/swagger';

export class QueueStatusDto {
  /** Requests with at least one generation waiting for a server. */
  @ApiProperty({ example: 3 })
  waiting_requests!: number;

  /** Generations waiting for a server (a request for `n` generations has up to `n`). */
  @ApiProperty({ example: 7 })
  waiting_slots!: number;

  /** Waiting requests that any model may serve (no `models` given). */
  @ApiProperty({ example: 1 })
  waiting_for_any_model!: number;

  /** Generations handed to a server and not handed in yet. */
  @ApiProperty({ example: 2 })
  processing_generations!: number;

  /** How long the oldest request with a waiting generation has existed, in seconds; null when none waits. */
  @ApiProperty({ type: Number, nullable: true, example: 42 })
  oldest_wait_seconds!: number | null;
}

export class TokensStatusDto {
  /** Tokens generated in the last minute (10-second resolution). */
  @ApiProperty({ example: 640 })
  last_minute!: number;

  /** Tokens generated in the last hour. */
  @ApiProperty({ example: 31200 })
  last_hour!: number;

  /** Tokens generated since this server process started. */
  @ApiProperty({ example: 120000 })
  since_start!: number;
}

export class ActiveServerStatusDto {
  /** The server's public name. */
  @ApiProperty({ example: "Db0's Awesome Instance" })
  name!: string;

  /** The server's uuid, as `GET /servers` lists it. */
  @ApiProperty({ format: 'uuid', example: '019e34e3-3109-4ea9-820a-b0c4f6a53c07' })
  id!: string;

  /** The username credited with what it generates. */
  @ApiProperty({ example: 'db0' })
  owner!: string;

  /** The model its KoboldAI instance runs. */
  @ApiProperty({ example: 'KoboldAI/fairseq-dense-13B-Nerys-v2' })
  model!: string;

  /** Most tokens it generates for one request. */
  @ApiProperty({ example: 80 })
  max_length!: number;

  /** Largest context, in tokens, it accepts. */
  @ApiProperty({ example: 1024 })
  max_content_length!: number;

  /** Speed over its recent jobs; null before its first job. */
  @ApiProperty({ type: Number, nullable: true, example: 12.3 })
  tokens_per_second!: number | null;

  /** Generations it handed in. */
  @ApiProperty({ example: 12 })
  requests_fulfilled!: number;

  /** Tokens it generated. */
  @ApiProperty({ example: 960 })
  tokens_generated!: number;

  /** When it last popped. */
  @ApiProperty({ format: 'date-time', example: '2026-11-24T20:00:00.000Z' })
  last_seen!: string;
}

export class ModelStatusDto {
  /** The model's name. */
  @ApiProperty({ example: 'KoboldAI/fairseq-dense-13B-Nerys-v2' })
  name!: string;

  /** Active servers running it. */
  @ApiProperty({ example: 2 })
  servers!: number;

  /** Waiting requests that asked for it by name (a request that allows several models counts for each). */
  @ApiProperty({ example: 1 })
  waiting_requests!: number;
}

export class ContributorStatusDto {
  /** The username. */
  @ApiProperty({ example: 'db0' })
  username!: string;

  /** Tokens their servers generated for the cluster. */
  @ApiProperty({ example: 5400 })
  contributions!: number;
}

/** Everything the status page shows but the chart, in one read. */
export class ClusterStatusDto {
  /** When these figures were read (they are at most a second old). */
  @ApiProperty({ format: 'date-time', example: '2026-11-24T20:00:00.000Z' })
  generated_at!: string;

  /** This server's version (package.json). */
  @ApiProperty({ example: '0.1.0' })
  version!: string;

  /** The requests in flight. */
  @ApiProperty({ type: QueueStatusDto, example: { waiting_requests: 3, waiting_slots: 7, waiting_for_any_model: 1, processing_generations: 2, oldest_wait_seconds: 42 } })
  queue!: QueueStatusDto;

  /** Tokens generated lately. */
  @ApiProperty({ type: TokensStatusDto, example: { last_minute: 640, last_hour: 31200, since_start: 120000 } })
  tokens!: TokensStatusDto;

  /** Servers that popped within STALE_SERVER_SECONDS, fastest first. */
  @ApiProperty({
    type: [ActiveServerStatusDto],
    example: [
      {
        name: "Db0's Awesome Instance",
        id: '019e34e3-3109-4ea9-820a-b0c4f6a53c07',
        owner: 'db0',
        model: 'KoboldAI/fairseq-dense-13B-Nerys-v2',
        max_length: 80,
        max_content_length: 1024,
        tokens_per_second: 12.3,
        requests_fulfilled: 12,
        tokens_generated: 960,
        last_seen: '2026-11-24T20:00:00.000Z',
      },
    ],
  })
  servers!: ActiveServerStatusDto[];

  /** Models run by an active server or asked for by a waiting request, most servers first. */
  @ApiProperty({ type: [ModelStatusDto], example: [{ name: 'KoboldAI/fairseq-dense-13B-Nerys-v2', servers: 2, waiting_requests: 1 }] })
  models!: ModelStatusDto[];

  /** The 10 users whose servers generated the most, most first. */
  @ApiProperty({ type: [ContributorStatusDto], example: [{ username: 'db0', contributions: 5400 }] })
  top_contributors!: ContributorStatusDto[];
}

export class ThroughputPointDto {
  /** Start of the minute. */
  @ApiProperty({ format: 'date-time', example: '2026-11-24T19:59:00.000Z' })
  start!: string;

  /** Tokens generated in that minute. */
  @ApiProperty({ example: 640 })
  tokens!: number;
}

/** Tokens generated per minute over the last hour. */
export class ThroughputDto {
  /** 60 points, oldest first; the last one is the minute that ends now. */
  @ApiProperty({ type: [ThroughputPointDto], example: [{ start: '2026-11-24T19:59:00.000Z', tokens: 640 }] })
  minutes!: ThroughputPointDto[];
}
