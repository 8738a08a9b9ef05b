import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/http/error-response.dto';
import { ServerDto } from './dto/server.dto';
import { ServersService } from './servers.service';

@ApiTags('Servers')
@Controller('servers')
export class ServersController {
  constructor(private readonly servers: ServersService) {}

  @Get()
  @ApiOperation({
    summary: 'Active servers and their statistics',
    description: 'Servers that popped within STALE_SERVER_SECONDS (5 minutes by default). Stale ones are left out, but keep their stats.',
  })
  @ApiOkResponse({ type: [ServerDto] })
  async listActive(): Promise<ServerDto[]> {
    const servers = await this.servers.findActive();
    return servers.map((server) => ServerDto.from(server, true));
  }

  @Get(':id')
  @ApiOperation({ summary: 'One server by uuid', description: 'Stale servers are shown too, with `online: false`.' })
  @ApiOkResponse({ type: ServerDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No server has this id' })
  async findOne(@Param('id') id: string): Promise<ServerDto> {
    const server = await this.servers.findById(id);
    if (!server) throw new NotFoundException(`No server with id "${id}"`);
    return ServerDto.from(server, this.servers.isActive(server));
  }
}
