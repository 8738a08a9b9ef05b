import { QueueSummary, WaitingCount } from './generation.store';

/** A summary of no request at all; adapters add each request they hold with {@link addToSummary}. */
export function emptyQueueSummary(held = 0): QueueSummary {
  return {
    waiting: { requests: 0, slots: 0 },
    processingGenerations: 0,
    oldestWaitingSince: null,
    waitingByModel: new Map(),
    waitingForAnyModel: { requests: 0, slots: 0 },
    held,
  };
}

/** Counts one held request into the summary: its processing generations, and its waiting slots by model. */
export function addToSummary(summary: QueueSummary, request: { processing: number; waiting: number; createdAt: number; models: readonly string[] }): void {
  summary.processingGenerations += request.processing;
  const slots = request.waiting;
  if (slots === 0) return;
  addWaiting(summary.waiting, slots);
  if (summary.oldestWaitingSince === null || request.createdAt < summary.oldestWaitingSince) summary.oldestWaitingSince = request.createdAt;
  if (request.models.length === 0) addWaiting(summary.waitingForAnyModel, slots);
  for (const model of new Set(request.models)) {
    let count = summary.waitingByModel.get(model);
    if (!count) summary.waitingByModel.set(model, (count = { requests: 0, slots: 0 }));
    addWaiting(count, slots);
  }
}

function addWaiting(count: WaitingCount, slots: number): void {
  count.requests += 1;
  count.slots += slots;
}
