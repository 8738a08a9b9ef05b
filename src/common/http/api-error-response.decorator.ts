import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { STATUS_CODES } from 'node:http';
import { ErrorResponseDto } from './error-response.dto';

/** The error statuses the cluster's routes answer on purpose; 500 is a bug and not documented. */
export type DocumentedErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 429 | 503 | 504;

const DEFAULTS: Record<DocumentedErrorStatus, { description: string; message: string }> = {
  400: {
    description: 'Malformed body: not a JSON object, or a field missing, of the wrong type or over its limit. The message names the field.',
    message: 'params.n must be an integer number',
  },
  401: { description: 'Wrong password', message: 'Wrong password for server name "Db0\'s Awesome Instance": that name is already taken' },
  403: { description: 'Forbidden', message: 'Registration is closed on this cluster (ACCOUNT_REGISTRATION=closed)' },
  404: { description: 'Unknown id', message: 'No request with id "34a9f91a-6db5-4d4c-962f-c4d795739610": it never existed or expired after 600s without activity' },
  409: { description: 'Already registered', message: 'The username "db0" is already registered' },
  413: {
    description: 'The body is larger than BODY_LIMIT_BYTES (681,920 bytes by default: room for the longest prompt and the largest params)',
    message: 'The request body (1048576 bytes) is larger than BODY_LIMIT_BYTES (681920 bytes) allows',
  },
  429: {
    description: 'Rate limited. Answered only while RATE_LIMITS is on.',
    message: 'Too many requests: slow down (see the rate limits in the README)',
  },
  503: { description: 'No active server can serve the request', message: 'No active server can serve this request: none runs any of the models ["KoboldAI/fairseq-dense-13B-Nerys-v2"]' },
  504: { description: 'The request expired before it was complete', message: 'The request expired after 600s without activity before all its generations were done' },
};

/**
 * Documents one error response: its status, what it means on this route, and an example of the
 * shared `{statusCode, error, message}` body. Documentation only; it changes nothing at runtime.
 */
export function ApiErrorResponse(status: DocumentedErrorStatus, description?: string, message?: string): MethodDecorator & ClassDecorator {
  return ApiResponse({
    status,
    type: ErrorResponseDto,
    description: description ?? DEFAULTS[status].description,
    example: { statusCode: status, error: STATUS_CODES[status], message: message ?? DEFAULTS[status].message },
  });
}

/** The errors every route with a JSON body can answer: 400 (malformed, naming the field) and 413 (too large). */
export function ApiBodyErrorResponses(description400?: string, message400?: string, description413?: string, message413?: string): MethodDecorator & ClassDecorator {
  return applyDecorators(ApiErrorResponse(400, description400, message400), ApiErrorResponse(413, description413, message413));
}

const RATE_LIMIT_DESCRIPTIONS: Record<'overall' | 'create' | 'status' | 'pop' | 'poll', string> = {
  poll: 'more than RATE_LIMIT_POLL_PER_SECOND (4) status reads a second from this IP',
  overall: 'more than RATE_LIMIT_PER_MINUTE (90) requests a minute from this IP',
  create: 'more than RATE_LIMIT_CREATE_PER_MINUTE (10) new requests a minute from this IP, or RATE_LIMIT_PER_MINUTE (90) requests overall',
  status: 'more than RATE_LIMIT_STATUS_PER_MINUTE (30) status reads a minute from this IP, or RATE_LIMIT_PER_MINUTE (90) requests overall',
  pop: 'more than RATE_LIMIT_POP_PER_SECOND (2) pops a second for this server name and password',
};

/** What answers 429 on the routes that check a server password (pop, submit): see AuthFailureLimiter. */
export const WRONG_PASSWORD_LIMIT =
  'Too many wrong passwords: more than RATE_LIMIT_AUTH_FAILURES_PER_MINUTE (10) a minute from this IP, or RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE (30) ' +
  'a minute for this server name from anywhere. A password verified before is never refused. Answered only while RATE_LIMITS is on.';

/** 429, with the limit the route counts against (see RateLimitModule). Routes with no limit (submit) have none. */
export function ApiRateLimitResponse(limit: keyof typeof RATE_LIMIT_DESCRIPTIONS = 'overall', alsoWhen?: string): MethodDecorator & ClassDecorator {
  const rateLimited = `Rate limited: ${RATE_LIMIT_DESCRIPTIONS[limit]}. Answered only while RATE_LIMITS is on.`;
  return ApiErrorResponse(429, alsoWhen ? `${rateLimited} Also answered, ${alsoWhen}.` : rateLimited);
}
