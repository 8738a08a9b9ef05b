import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { RedisReadinessCheck } from '../common/redis/redis-readiness.check';
import { DataDirCheck } from './data-dir.check';
import { HealthController } from './health.controller';
import { READINESS_CHECKS, ReadinessCheck } from './readiness-check';
import { SnapshotsCheck } from './snapshots.check';

/** The readiness checks, in the order /health/ready reports them; with REDIS_URL set, the shared store's comes last. */
const CHECKS = [DataDirCheck, SnapshotsCheck];

/** GET /health (liveness) and GET /health/ready (readiness), with @nestjs/terminus. */
@Module({
  // Readiness changes are logged by HealthController, once per change, not at every failing probe.
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [
    ...CHECKS,
    {
      provide: READINESS_CHECKS,
      useFactory: (...checks: (ReadinessCheck | undefined)[]) => checks.filter((check) => check !== undefined),
      inject: [...CHECKS, { token: RedisReadinessCheck, optional: true }],
    },
  ],
})
export class HealthModule {}
