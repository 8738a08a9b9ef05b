// Loaded into the soak's server process with `node --require`, never into the application itself:
// measures event-loop delay and RSS, and answers the soak over the IPC channel. Not on any request path.
'use strict';
const { monitorEventLoopDelay } = require('node:perf_hooks');

if (typeof process.send === 'function') {
  const RESOLUTION_MS = 5;
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  // The histogram records the time between two ticks of its timer; the delay is what exceeds the interval.
  const ms = (ns) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 100) / 100);
  process.on('message', (message) => {
    if (message === 'soak:reset') {
      histogram.reset();
      process.send({ type: 'soak:reset', rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed });
    } else if (message === 'soak:report') {
      process.send({
        type: 'soak:report',
        rss: process.memoryUsage().rss,
        heapUsed: process.memoryUsage().heapUsed,
        loopDelayMs: { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) },
      });
    }
  });
  // The channel must not keep the server alive once it shuts down.
  process.channel?.unref();
}
