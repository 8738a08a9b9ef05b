import type { Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorResponseDto } from './error-response.dto';

interface ParserError extends Error {
  code?: string;
  reason?: string;
}

/** Node's own check before it answers a parser error: no response may have started on the socket. */
function responseStarted(socket: Duplex): boolean {
  const current = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  return current?.headersSent === true;
}

function bodyFor(error: ParserError): ErrorResponseDto {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return { statusCode: 431, error: STATUS_CODES[431] ?? 'Error', message: 'The URL and headers of the request are larger than the server accepts' };
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { statusCode: 408, error: STATUS_CODES[408] ?? 'Error', message: 'The request took too long to arrive' };
  }
  const reason = error.reason ?? error.message;
  return { statusCode: 400, error: STATUS_CODES[400] ?? 'Error', message: `Malformed HTTP request${reason ? `: ${reason}` : ''}` };
}

/**
 * Requests that Node's HTTP parser refuses before Express sees them (bytes a URL may not hold, a URL and
 * headers over 16 KiB, a broken request line) are answered with the same `{statusCode, error, message}`
 * body as every other error, instead of Node's bare status line. The connection is closed afterwards, as
 * Node does, since the parser cannot find where the next request starts.
 */
export function answerClientErrorsAsJson(server: Server): void {
  server.on('clientError', (error: ParserError, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable || responseStarted(socket)) {
      socket.destroy();
      return;
    }
    const response = bodyFor(error);
    const body = JSON.stringify(response);
    const statusCode = response.statusCode;
    socket.end(
      `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  });
}
