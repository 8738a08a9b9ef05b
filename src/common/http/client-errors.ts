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

/** How long the error answer may take to leave before the socket is destroyed anyway (a client that never reads). */
export const CLIENT_ERROR_LINGER_MS = 1000;

/**
 * Requests that Node's HTTP parser refuses before Express sees them (bytes a URL may not hold, a URL and
 * headers over 16 KiB, a broken request line) are answered with the same `{statusCode, error, message}`
 * body as every other error, instead of Node's bare status line; so are the headers and request timeouts
 * (408). The connection is then destroyed, as Node does, since the parser cannot find where the next
 * request starts: once the answer is written, or after {@link CLIENT_ERROR_LINGER_MS} if the client does
 * not read it. (Ending it is not enough: the server allows half-open connections, so a client that never
 * closes its side would hold the socket for ever.)
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
    const linger = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
    socket.end(
      `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode]}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        'X-Content-Type-Options: nosniff\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
      () => socket.destroy(),
    );
  });
}
