import { Injectable } from '@nestjs/common';
import { Histogram } from 'prom-client';
import { TokenThroughput } from './domain/token-throughput';

/**
 * What happened in the cluster since the start, counted where it happens with plain increments (a pop
 * costs one addition). /metrics reads the counts when it is scraped; the status page reads the
 * throughput.
 */
@Injectable()
export class ClusterMetrics {
  popsServed = 0;
  popsEmpty = 0;
  submits = 0;
  tokensGenerated = 0;
  /** The tokens requests asked for: n × max_length of each request made. */
  tokensRequested = 0;
  requestsCreated = 0;
  requestsExpired = 0;
  generationsRestarted = 0;
  readonly throughput = new TokenThroughput();
  /** Seconds from a request's creation to its last generation; observed once per completed request. */
  readonly requestDuration = new Histogram({
    name: 'koboldai_cluster_request_duration_seconds',
    help: 'Time from a request being made to its last generation being handed in',
    buckets: [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
    registers: [],
  });

  requestCreated(n: number, maxLength: number): void {
    this.requestsCreated += 1;
    this.tokensRequested += n * maxLength;
  }

  popped(served: boolean): void {
    if (served) this.popsServed += 1;
    else this.popsEmpty += 1;
  }

  submitted(tokens: number, now: number): void {
    this.submits += 1;
    this.tokensGenerated += tokens;
    this.throughput.record(tokens, now);
  }

  requestCompleted(createdAt: number, now: number): void {
    this.requestDuration.observe((now - createdAt) / 1000);
  }

  expired(requests: number): void {
    this.requestsExpired += requests;
  }

  restarted(generations: number): void {
    this.generationsRestarted += generations;
  }
}
