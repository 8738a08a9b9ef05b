import type { NextFunction, Request, Response } from 'express';
import helmet, { HelmetOptions } from 'helmet';

/**
 * The Content-Security-Policy of every answer. Scripts only from this origin, as files: the Swagger UI
 * (/api) and the status page load theirs so, and no inline script or event-handler attribute runs.
 * Styles also from this origin, plus inline ones, which the Swagger UI's page needs (a `<style>` block
 * and a `style` attribute in @nestjs/swagger's HTML). Pages may fetch from this origin only, show
 * images from it and data: URLs (the Swagger UI's icons), and may not be framed by other sites.
 * No `upgrade-insecure-requests`: the cluster is often served over plain HTTP, where it would make
 * browsers ask for every script over HTTPS and break the pages.
 */
export const CONTENT_SECURITY_POLICY_DIRECTIVES = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'", "'unsafe-inline'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'self'"],
  'upgrade-insecure-requests': null,
};

/**
 * helmet's defaults, with our policy and without Strict-Transport-Security: whether the cluster is
 * reached over HTTPS is known to the TLS terminator in front of it, which should set HSTS itself.
 */
export const HELMET_OPTIONS: Readonly<HelmetOptions> = {
  contentSecurityPolicy: { useDefaults: false, directives: CONTENT_SECURITY_POLICY_DIRECTIVES },
  strictTransportSecurity: false,
};

/** The headers helmet sets with these options, found once by running it against a stand-in response. */
export function helmetHeaders(options: Readonly<HelmetOptions> = HELMET_OPTIONS): [string, string][] {
  const headers: [string, string][] = [];
  let done = false;
  const response = { setHeader: (name: string, value: string) => void headers.push([name, String(value)]), removeHeader: () => undefined };
  helmet(options)({} as never, response as never, () => (done = true));
  if (!done || !headers.some(([name]) => name.toLowerCase() === 'content-security-policy')) {
    throw new Error('helmet did not set its headers synchronously: security headers cannot be precomputed');
  }
  return headers;
}

/**
 * The headers of JSON API answers, as OWASP's REST Security Cheat Sheet recommends them: nothing in
 * them may run, load or be framed, whoever opens them. Four short headers instead of helmet's eleven,
 * on the routes that bridges and clients call many times a second (pop, submit, status reads).
 */
export const API_HEADERS: readonly [string, string][] = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
  ['Referrer-Policy', 'no-referrer'],
];

/** The first segments of the JSON API's paths (the controllers' routes). */
export const API_PATH_SEGMENTS: ReadonlySet<string> = new Set(['generate', 'servers', 'usage', 'contributions', 'users', 'models']);

/** The AI Horde v2 API (`/api/v2/...`, and `/v2/...` for KoboldAI United's abort): JSON too, unlike `/api` (the Swagger UI). */
function isHordeApi(url: string): boolean {
  return url.startsWith('/api/v2/') || url.startsWith('/v2/');
}

/** `generate` for `/generate/pop?x`: the text between the first `/` and the next `/` or `?`. */
function firstSegment(url: string): string {
  let end = 1;
  while (end < url.length && url[end] !== '/' && url[end] !== '?') end++;
  return url.slice(1, end);
}

/**
 * Security headers on every answer, computed once: {@link API_HEADERS} on the JSON API's routes, and
 * helmet's headers ({@link HELMET_OPTIONS}) on everything else: the Swagger UI, the OpenAPI document,
 * pages, their scripts and stylesheets, and unknown paths. On a pop, running helmet's eleven
 * middlewares, or even setting its eleven headers, cost about 8% of the throughput; the four API
 * headers cost about 1% (see README, Performance).
 */
export function securityHeaders(options: Readonly<HelmetOptions> = HELMET_OPTIONS): (req: Request, res: Response, next: NextFunction) => void {
  const pageHeaders = helmetHeaders(options);
  return (req, res, next) => {
    const headers = API_PATH_SEGMENTS.has(firstSegment(req.url)) || isHordeApi(req.url) ? API_HEADERS : pageHeaders;
    for (let i = 0; i < headers.length; i++) res.setHeader(headers[i][0], headers[i][1]);
    next();
  };
}
