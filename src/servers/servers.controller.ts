import { Controller, Get, Param, StreamableFile } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponse, ApiRateLimitResponse } from '../common/http/api-error-response.decorator';
import { ActiveServersList } from './active-servers-list';
import { ServerDto } from './dto/server.dto';
import { ServersService } from './servers.service';

@ApiTags('Servers')
@Controller('servers')
export class ServersController {
  constructor(
    private readonly servers: ServersService,
    private readonly activeList: ActiveServersList,
  ) {}

  @Get()
  @ApiOperation({
    summary: 'Active servers and their statistics',
    description:
      'Servers that popped within STALE_SERVER_SECONDS (5 minutes by default). Stale ones are left out, but keep their stats. ' +
      'The list is at most SERVERS_LIST_CACHE_MS (1 s by default) old: it is built once for every caller meanwhile.',
  })
  @ApiOkResponse({ type: [ServerDto], description: 'The active servers' })
  @ApiRateLimitResponse()
  async listActive(): Promise<StreamableFile> {
    // The shared bytes as they are: no copy, no serialization, no ETag hash of a long list per request.
    const json = await this.activeList.json();
    return new StreamableFile(json, { type: 'application/json; charset=utf-8', length: json.length });
  }

  @Get(':id')
  @ApiOperation({ summary: 'One server by uuid', description: 'Stale servers are shown too, with `online: false`.' })
  @ApiParam({ name: 'id', format: 'uuid', description: "The server's id, as `GET /servers` lists it", example: '019e34e3-3109-4ea9-820a-b0c4f6a53c07' })
  @ApiOkResponse({ type: ServerDto, description: 'The server, active or stale' })
  @ApiErrorResponse(404, 'No server has this id', 'No server with id "019e34e3-3109-4ea9-820a-b0c4f6a53c07"')
  @ApiRateLimitResponse()
  async findOne(@Param('id') id: string): Promise<ServerDto> {
    const server = await this.servers.getById(id);
    return ServerDto.from(server, this.servers.isActive(server));
  }
}
