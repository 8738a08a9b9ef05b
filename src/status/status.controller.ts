import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiRateLimitResponse } from '../common/http/api-error-response.decorator';
import { ClusterStatusDto, ThroughputDto } from './dto/cluster-status.dto';
import { StatusService } from './status.service';

@ApiTags('Status')
@Controller('status')
export class StatusController {
  constructor(private readonly status: StatusService) {}

  @Get()
  @ApiOperation({
    summary: 'The cluster at a glance',
    description:
      'What the status page at `/` shows: the queue (waiting requests and generations, processing generations, oldest wait), tokens generated in the last minute and hour, ' +
      'the active servers with their owner, model, limits and speed, the models with their servers and waiting requests, and the top contributors. ' +
      'Read at most once a second, however many clients ask.',
  })
  @ApiOkResponse({ type: ClusterStatusDto, description: 'The cluster now' })
  @ApiRateLimitResponse()
  cluster(): Promise<ClusterStatusDto> {
    return this.status.clusterStatus();
  }

  @Get('throughput')
  @ApiOperation({ summary: 'Tokens generated per minute over the last hour', description: "The status page's chart: 60 points, oldest first." })
  @ApiOkResponse({ type: ThroughputDto, description: 'Tokens per minute' })
  @ApiRateLimitResponse()
  throughput(): ThroughputDto {
    return this.status.throughput();
  }
}
