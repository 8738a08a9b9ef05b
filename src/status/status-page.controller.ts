import { Controller, Get, Header, NotFoundException, Param, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The page's files, shipped beside this file (nest-cli.json copies `status/public` to dist). */
const PUBLIC_DIR = join(__dirname, 'public');

const ASSETS: Record<string, string> = {
  'status-page.js': 'text/javascript; charset=utf-8',
  'status-page.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/**
 * The status page at `/`: plain HTML, CSS and JavaScript files (no build step, nothing from another
 * origin, no inline script or style, so a strict Content-Security-Policy allows it). The page reads
 * GET /status and GET /status/throughput every few seconds. The files are read once, at start.
 */
@ApiExcludeController()
@Controller()
export class StatusPageController {
  private readonly page = readFileSync(join(PUBLIC_DIR, 'index.html'));
  private readonly assets = new Map(Object.keys(ASSETS).map((name) => [name, readFileSync(join(PUBLIC_DIR, name))]));

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  statusPage(): Buffer {
    return this.page;
  }

  @Get('assets/:name')
  asset(@Param('name') name: string, @Res({ passthrough: true }) response: Response): Buffer {
    const content = Object.hasOwn(ASSETS, name) ? this.assets.get(name) : undefined;
    if (!content) throw new NotFoundException(`No asset "${name}"`);
    response.setHeader('Content-Type', ASSETS[name]);
    response.setHeader('Cache-Control', 'no-cache');
    return content;
  }
}
