import { ProcessingGeneration } from '../domain/processing-generation';
import { WaitingPrompt } from '../domain/waiting-prompt';
import { InMemoryWaitingPromptRepository } from './in-memory-waiting-prompt.repository';

let nextId = 0;
function request(username: string, n = 1, requesterKey = username): WaitingPrompt {
  return new WaitingPrompt({ id: `r${nextId++}`, prompt: 'p', params: {}, username, requesterKey, wishes: { models: [], maxLength: 80, maxContentLength: 1024 }, n, now: 0 });
}

const offer = { model: 'm', maxLength: 512, maxContentLength: 2048 };

describe('InMemoryWaitingPromptRepository unfinished counts', () => {
  it('counts a request until it is done, once, however often it is refreshed or deleted', () => {
    const repo = new InMemoryWaitingPromptRepository();
    const a = request('alice', 1, 'alice');
    const b = request('anonymous', 2, 'anonymous@1.2.3.4');
    repo.add(a);
    repo.add(a);
    repo.add(b);
    expect(repo.countUnfinishedByUsername('alice')).toBe(1);
    expect(repo.countUnfinishedByRequester('anonymous@1.2.3.4')).toBe(1);

    const match = repo.takeNextFor(offer, 1, new Set());
    expect(match.prompt).toBe(a);
    const generation: ProcessingGeneration = { id: 'g', promptId: a.id, serverId: 's', slot: match.slot!, startedAt: 1, deadline: 9, state: 'processing' };
    a.assign(generation);
    repo.refresh(a);
    expect(repo.countUnfinishedByUsername('alice')).toBe(1);
    a.finishSlot(generation, 'text', 2);
    repo.refresh(a);
    repo.refresh(a);
    expect(repo.countUnfinishedByUsername('alice')).toBe(0);
    repo.delete(a);
    repo.delete(a);
    expect(repo.countUnfinishedByUsername('alice')).toBe(0);
    expect(repo.findById(a.id)).toBeUndefined();

    repo.delete(b);
    expect(repo.countUnfinishedByRequester('anonymous@1.2.3.4')).toBe(0);
    expect(repo.count()).toBe(0);
  });

  it('stops counting a cancelled request once nothing is in progress, and ignores a request it does not hold', () => {
    const repo = new InMemoryWaitingPromptRepository();
    const a = request('alice', 2);
    repo.add(a);
    a.cancel();
    repo.refresh(a);
    expect(repo.countUnfinishedByUsername('alice')).toBe(0);
    const stranger = request('alice');
    repo.refresh(stranger);
    repo.delete(stranger);
    expect(repo.countUnfinishedByUsername('alice')).toBe(0);
    repo.add(request('alice'));
    expect(repo.countUnfinishedByUsername('alice')).toBe(1);
  });
});

describe('InMemoryWaitingPromptRepository.summarize', () => {
  it('counts waiting requests and slots, processing generations, the oldest wait and the models asked for', () => {
    const repo = new InMemoryWaitingPromptRepository();
    const wishes = (models: string[]) => ({ models, maxLength: 80, maxContentLength: 1024 });
    const make = (id: string, models: string[], n: number, now: number) =>
      new WaitingPrompt({ id, prompt: 'p', params: {}, username: 'u', wishes: wishes(models), n, now });
    expect(repo.summarize()).toEqual({
      waiting: { requests: 0, slots: 0 },
      processingGenerations: 0,
      oldestWaitingSince: null,
      waitingByModel: new Map(),
      waitingForAnyModel: { requests: 0, slots: 0 },
    });
    repo.add(make('ab', ['a', 'b', 'a'], 3, 20));
    repo.add(make('any', [], 2, 50));
    repo.add(make('b', ['b'], 1, 30));
    const match = repo.takeNextFor({ model: 'b', maxLength: 80, maxContentLength: 1024 }, 60, new Set());
    expect(match.prompt?.id).toBe('ab');
    const summary = repo.summarize();
    expect(summary.waiting).toEqual({ requests: 3, slots: 5 });
    expect(summary.processingGenerations).toBe(1);
    expect(summary.oldestWaitingSince).toBe(20);
    expect(summary.waitingByModel).toEqual(new Map([['a', { requests: 1, slots: 2 }], ['b', { requests: 2, slots: 3 }]]));
    expect(summary.waitingForAnyModel).toEqual({ requests: 1, slots: 2 });
  });
});
