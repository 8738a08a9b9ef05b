import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { AppConfig } from '../../config/app-config';

/** How often Node checks for connections over the headers and request timeouts (its default is 30 s). */
export const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/**
 * The HTTP server's timeouts, from the configuration: a client gets HEADERS_TIMEOUT_SECONDS to send its
 * headers and REQUEST_TIMEOUT_SECONDS for the whole request (then a 408 and the connection is closed), and
 * an idle keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_SECONDS (which the server announces in its
 * Keep-Alive header; Node waits one second more, so that clients close first). Must run before `listen`:
 * Node starts its timeout checks, every {@link TIMEOUT_CHECK_INTERVAL_MS}, when the server starts listening.
 */
export function applyServerTimeouts(server: Server, config: AppConfig): void {
  server.headersTimeout = config.HEADERS_TIMEOUT_SECONDS * 1000;
  server.requestTimeout = config.REQUEST_TIMEOUT_SECONDS * 1000;
  server.keepAliveTimeout = config.KEEP_ALIVE_TIMEOUT_SECONDS * 1000;
  // A createServer option that Node reads again when the server starts listening; not in @types/node as a property.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = TIMEOUT_CHECK_INTERVAL_MS;
}

interface SocketResponse {
  headersSent: boolean;
  writableFinished: boolean;
  shouldKeepAlive: boolean;
  once(event: 'finish', listener: () => void): unknown;
}

/** The response being made on the socket, if any (Node's own bookkeeping, as in client-errors.ts). */
function responseOn(socket: Socket): SocketResponse | undefined {
  const response = (socket as Socket & { _httpMessage?: SocketResponse | null })._httpMessage;
  return response && !response.writableFinished ? response : undefined;
}

/**
 * Closes the HTTP server's connections at shutdown, before the snapshots are written (Nest writes them
 * once the server has closed, and Node's `server.close()` waits for every connection):
 * connections with no request in progress (idle keep-alive ones, and those that never sent a whole
 * request) are closed at once; requests in progress get SHUTDOWN_GRACE_SECONDS to be answered, and
 * whatever is still open then is closed.
 */
@Injectable()
export class HttpConnections implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(HttpConnections.name);
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly config: AppConfig,
  ) {}

  private get server(): Server | undefined {
    // Undefined in an application context without HTTP.
    return this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
  }

  onApplicationBootstrap(): void {
    this.server?.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /**
   * Starts closing and returns at once: the other modules' shutdown hooks (which answer waiting
   * `/generate/sync` calls) may run after this one, and Nest then waits for the server to close.
   */
  beforeApplicationShutdown(): void {
    const server = this.server;
    if (!server?.listening) return;
    server.close();
    for (const socket of this.sockets) {
      const response = responseOn(socket);
      if (!response) {
        socket.destroy();
        continue;
      }
      // Answered with `Connection: close` (if not already under way), and closed once answered: the
      // client sends its next request nowhere rather than to a server about to go.
      if (!response.headersSent) response.shouldKeepAlive = false;
      response.once('finish', () => socket.destroy());
    }
    if (this.sockets.size === 0) return;
    const grace = setTimeout(() => {
      if (this.sockets.size === 0) return;
      this.logger.warn(`Closing ${this.sockets.size} connection(s) whose request was not answered within SHUTDOWN_GRACE_SECONDS (${this.config.SHUTDOWN_GRACE_SECONDS} s)`);
      for (const socket of this.sockets) socket.destroy();
    }, this.config.SHUTDOWN_GRACE_SECONDS * 1000);
    server.once('close', () => clearTimeout(grace));
  }
}
