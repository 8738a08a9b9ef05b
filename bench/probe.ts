/**
 * Preloaded into the benchmarked server (`node --expose-gc -r probe.js dist/main.js`) by bench/run.ts,
 * so the server itself needs no debug endpoint. It answers over the IPC channel the bench opens:
 * - `eld-reset`: restarts the event-loop delay histogram;
 * - `eld-read`: the histogram's p50/p99/max in milliseconds;
 * - `gc`: runs two full collections, then answers process.memoryUsage().
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

type ProbeRequest = { id: number; type: 'eld-reset' | 'eld-read' | 'gc' };

const histogram = monitorEventLoopDelay({ resolution: 1 });
histogram.enable();
const ms = (ns: number): number => ns / 1e6;

process.on('message', (message: ProbeRequest) => {
  const reply = (data: object): void => {
    process.send?.({ id: message.id, ...data });
  };
  switch (message.type) {
    case 'eld-reset':
      histogram.reset();
      reply({});
      break;
    case 'eld-read':
      reply({ p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max), count: histogram.count });
      break;
    case 'gc': {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      reply({ memory: process.memoryUsage(), collected: gc !== undefined });
      break;
    }
  }
});
