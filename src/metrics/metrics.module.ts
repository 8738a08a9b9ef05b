import { Global, Module } from '@nestjs/common';
import { GenerationModule } from '../generation/generation.module';
import { ServersModule } from '../servers/servers.module';
import { ClusterMetrics } from './cluster-metrics.service';
import { MetricsController } from './metrics.controller';
import { PrometheusExporter } from './prometheus-exporter.service';

/**
 * GET /metrics, and ClusterMetrics, the counters every module may increment (global, so GenerationService
 * gets it without an import cycle).
 */
@Global()
@Module({
  imports: [GenerationModule, ServersModule],
  controllers: [MetricsController],
  providers: [ClusterMetrics, PrometheusExporter],
  exports: [ClusterMetrics],
})
export class MetricsModule {}
