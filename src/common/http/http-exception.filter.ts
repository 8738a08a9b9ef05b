import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { watchFailedResponse } from '../logging/access-log';
import { ErrorResponseDto } from './error-response.dto';

/** Errors thrown by Express's body parser (too large, bad charset...) carry a status and `expose`. */
interface ClientError {
  status?: number;
  expose?: boolean;
  message?: string;
  /** On a 413 from the body parser: the limit, and the declared length when there was one. */
  limit?: number;
  length?: number;
}

function tooLargeMessage({ limit, length }: ClientError): string {
  const size = typeof length === 'number' ? ` (${length} bytes)` : '';
  const allowed = typeof limit === 'number' ? ` (${limit} bytes)` : '';
  return `The request body${size} is larger than BODY_LIMIT_BYTES${allowed} allows`;
}

function messageOf(response: string | object): string {
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.map(String).join('; ');
  if (typeof message === 'string') return message;
  return 'Request failed';
}

/**
 * Gives every error the same body, `{statusCode, error, message}`, with `message` always one string.
 * Anything that is not an HTTP error is a bug: it is logged (without bodies) and answered 500.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const body = this.toBody(exception);
    watchFailedResponse(response);
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(body.statusCode).json(body);
  }

  toBody(exception: unknown): ErrorResponseDto {
    if (exception instanceof HttpException) {
      const statusCode = exception.getStatus();
      return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message: messageOf(exception.getResponse()) };
    }
    const clientError = exception as ClientError | undefined;
    const status = clientError?.status;
    if (typeof status === 'number' && status >= 400 && status < 500 && clientError?.expose) {
      const message = status === 413 ? tooLargeMessage(clientError) : (clientError.message ?? 'Bad request');
      return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message };
    }
    this.logger.error(`Unexpected error: ${(exception as Error)?.stack ?? String(exception)}`);
    return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, error: 'Internal Server Error', message: 'Internal server error' };
  }
}
