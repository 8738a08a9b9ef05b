import { BadRequestException, BeforeApplicationShutdown, GatewayTimeoutException, HttpException, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { GenerationStore } from './persistence/generation.store';

interface SyncWaiter {
  resolve: (generations: string[]) => void;
  reject: (error: HttpException) => void;
}

/**
 * The `/generate/sync` calls held by this process, each waiting for its request to be done. Told by the
 * store's onSettled (on whichever instance the request settled), and, since such a message can be lost
 * between instances, re-reading every held request every RECHECK_MS while any is held. Done: answers the
 * generations; gone (expired): 504; the client went away: cancels the request; shutdown: 503 and cancels.
 */
@Injectable()
export class SyncCompletions implements BeforeApplicationShutdown {
  static readonly RECHECK_MS = 1000;
  private readonly logger = new Logger(SyncCompletions.name);
  private readonly held = new Map<string, SyncWaiter>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: GenerationStore,
    private readonly config: AppConfig,
  ) {
    store.onSettled((requestId) => {
      if (this.held.has(requestId)) void this.check(requestId);
    });
  }

  /** How many sync calls this process holds. */
  get size(): number {
    return this.held.size;
  }

  /**
   * Resolves with the request's generations once it is done; rejects with 504 if it expires first;
   * `signal` aborting (the client went away) cancels the request.
   */
  waitFor(requestId: string, signal?: AbortSignal): Promise<string[]> {
    return new Promise<string[]>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.release(requestId)) return;
        void this.cancel(requestId).then(() => reject(new BadRequestException('The client closed the connection; the request was cancelled')));
      };
      this.held.set(requestId, {
        resolve: (generations) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(generations);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      this.timer ??= setInterval(() => this.recheckAll(), SyncCompletions.RECHECK_MS).unref();
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Before the HTTP server closes (it waits for open requests): answers every held sync call with a 503
   * and cancels its request, instead of holding the shutdown until the request expires.
   */
  async beforeApplicationShutdown(): Promise<void> {
    const held = [...this.held.entries()];
    for (const [requestId] of held) this.release(requestId);
    for (const [requestId, waiter] of held) {
      await this.cancel(requestId);
      waiter.reject(new ServiceUnavailableException('The server is shutting down; send the request again in a moment'));
    }
  }

  private recheckAll(): void {
    for (const requestId of this.held.keys()) void this.check(requestId);
  }

  /** Reads the request: answers its caller when it is done or gone. */
  private async check(requestId: string): Promise<void> {
    try {
      const request = await this.store.findRequest(requestId);
      const waiter = this.held.get(requestId);
      if (!waiter || (request && !request.done)) return;
      this.release(requestId);
      if (request) waiter.resolve(request.generations);
      else {
        waiter.reject(
          new GatewayTimeoutException(`The request expired after ${this.config.PROMPT_EXPIRY_SECONDS}s without activity before all its generations were done`),
        );
      }
    } catch (error) {
      this.logger.error(`Reading a held sync request failed (retried in ${SyncCompletions.RECHECK_MS} ms): ${(error as Error).stack ?? String(error)}`);
    }
  }

  private release(requestId: string): boolean {
    if (!this.held.delete(requestId)) return false;
    if (this.held.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    return true;
  }

  private async cancel(requestId: string): Promise<void> {
    try {
      await this.store.cancel(requestId, Date.now());
    } catch (error) {
      this.logger.error(`Cancelling sync request ${requestId} failed: ${(error as Error).stack ?? String(error)}`);
    }
  }
}
