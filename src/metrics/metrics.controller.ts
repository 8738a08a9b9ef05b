import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { RateLimitBucket } from '../common/rate-limit/rate-limit-bucket.decorator';
import { PrometheusExporter } from './prometheus-exporter.service';

@ApiTags('Operations')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly exporter: PrometheusExporter) {}

  @Get()
  @RateLimitBucket('unlimited')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Prometheus metrics',
    description:
      'The cluster in Prometheus text format: waiting requests and slots, processing generations, active servers by model, pops (served, empty), ' +
      'submits, tokens generated and requested, requests made and expired, generations restarted, time from request to done (histogram), ' +
      "and the Node.js process metrics. Every name starts with `koboldai_cluster_` (the process metrics' with `process_` or `nodejs_`). Never rate limited.",
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({
    description: 'Prometheus text exposition format 0.0.4',
    content: {
      'text/plain': {
        schema: { type: 'string' },
        example: '# HELP koboldai_cluster_waiting_requests Requests with at least one generation waiting for a server\n# TYPE koboldai_cluster_waiting_requests gauge\nkoboldai_cluster_waiting_requests 3\n',
      },
    },
  })
  async scrape(@Res({ passthrough: true }) response: Response): Promise<string> {
    const text = await this.exporter.scrape();
    response.type(this.exporter.contentType);
    return text;
  }
}
