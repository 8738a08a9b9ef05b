import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiRateLimitResponse } from '../common/http/api-error-response.decorator';
import { SERVERS_BY_MODEL_SCHEMA } from './dto/servers-by-model.schema';
import { ModelsService } from './models.service';

@ApiTags('Models')
@Controller('models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get()
  @ApiOperation({
    summary: 'Models being served right now',
    description: 'Each model run by an active server, with how many servers run it. KoboldAI reads the keys as the model list.',
  })
  @ApiOkResponse({ schema: SERVERS_BY_MODEL_SCHEMA, description: 'Model → number of active servers' })
  @ApiRateLimitResponse()
  list(): Promise<Record<string, number>> {
    return this.models.countActiveServersByModel();
  }
}
