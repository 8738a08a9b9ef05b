import { Controller, Get, Inject, Logger, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheckResult, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { ApiErrorResponse } from '../common/http/api-error-response.decorator';
import { RateLimitBucket } from '../common/rate-limit/rate-limit-bucket.decorator';
import { READINESS_CHECKS, ReadinessCheck } from './readiness-check';

const HEALTH_RESULT_SCHEMA = {
  type: 'object',
  description: "@nestjs/terminus's health check result",
  properties: {
    status: { type: 'string', enum: ['ok'] },
    info: { type: 'object', additionalProperties: { type: 'object', properties: { status: { type: 'string', enum: ['up'] } } } },
    error: { type: 'object' },
    details: { type: 'object', additionalProperties: { type: 'object', properties: { status: { type: 'string', enum: ['up'] } } } },
  },
};

@ApiTags('Operations')
@Controller('health')
export class HealthController {
  private readonly logger = new Logger(HealthController.name);
  private lastProblem: string | null = null;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(READINESS_CHECKS) private readonly checks: readonly ReadinessCheck[],
  ) {}

  @Get()
  @RateLimitBucket('unlimited')
  @ApiOperation({
    summary: 'Liveness',
    description: 'Answers 200 while the process serves HTTP. For an orchestrator\'s liveness probe; never rate limited.',
  })
  @ApiOkResponse({ schema: { ...HEALTH_RESULT_SCHEMA, example: { status: 'ok', info: {}, error: {}, details: {} } }, description: 'The process is alive' })
  liveness(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  @RateLimitBucket('unlimited')
  @ApiOperation({
    summary: 'Readiness',
    description:
      'Answers 200 when the server can do its job safely: DATA_DIR is a writable directory and the last write of every snapshot and journal succeeded. ' +
      'Otherwise 503, and the message says what is wrong. For an orchestrator\'s readiness probe or a load balancer; never rate limited.',
  })
  @ApiOkResponse({
    schema: {
      ...HEALTH_RESULT_SCHEMA,
      example: { status: 'ok', info: { data_dir: { status: 'up' }, persistence: { status: 'up' } }, error: {}, details: { data_dir: { status: 'up' }, persistence: { status: 'up' } } },
    },
    description: 'Ready',
  })
  @ApiErrorResponse(503, 'Not ready: the message names each failing check and why', 'Not ready: data_dir: DATA_DIR /var/lib/koboldai-cluster cannot be written (EACCES)')
  async readiness(): Promise<HealthCheckResult> {
    try {
      const result = await this.health.check(
        this.checks.map((check) => async () => {
          const problem = await check.problem();
          const session = this.indicators.check(check.name);
          return problem === null ? session.up() : session.down({ reason: problem });
        }),
      );
      this.noteProblem(null);
      return result;
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const failed = (error.getResponse() as HealthCheckResult).error ?? {};
      const reasons = Object.entries(failed).map(([name, detail]) => {
        const reason = (detail as { reason?: unknown }).reason;
        return `${name}: ${typeof reason === 'string' ? reason : 'down'}`;
      });
      const problem = `Not ready: ${reasons.join('; ')}`;
      this.noteProblem(problem);
      throw new ServiceUnavailableException(problem);
    }
  }

  /** Logs when readiness changes, not at every probe. */
  private noteProblem(problem: string | null): void {
    if (problem === this.lastProblem) return;
    if (problem) this.logger.warn(problem);
    else this.logger.log('Ready again');
    this.lastProblem = problem;
  }
}
