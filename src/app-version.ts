import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** package.json's version, shown in the Swagger UI and the status page (read from src/ and from dist/ alike). */
export const APP_VERSION = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
