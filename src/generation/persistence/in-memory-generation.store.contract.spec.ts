import { CONTRACT_SERVER_HASH, contractServerName, describeGenerationStoreContract, GenerationStoreFixture } from './generation.store.contract';
import { RecordingLedger } from '../../../test/support/recording-ledger';
import { GenerationCredit } from './generation-ledger';
import { InMemoryGenerationStore } from './in-memory-generation.store';

describeGenerationStoreContract('in memory', (): Promise<GenerationStoreFixture> => {
  // No server exists but those added.
  const ledger = new RecordingLedger(null);
  const sum = (pick: (c: GenerationCredit) => boolean, value: (c: GenerationCredit) => number): number =>
    ledger.credits.filter(pick).reduce((total, c) => total + value(c), 0);
  return Promise.resolve({
    store: new InMemoryGenerationStore(ledger),
    credited: {
      usage: (username) => Promise.resolve(sum((c) => c.requester === username, (c) => c.tokens)),
      contributions: (username) => Promise.resolve(sum((c) => c.serverOwner === username, (c) => c.tokens)),
      serverJobs: (serverId) =>
        Promise.resolve({
          jobs: sum((c) => c.serverId === serverId, () => 1),
          tokens: sum((c) => c.serverId === serverId, (c) => c.tokens),
          seconds: sum((c) => c.serverId === serverId, (c) => c.seconds),
        }),
    },
    addServer: (serverId, owner) => {
      ledger.owners.set(serverId, owner);
      const name = contractServerName(serverId);
      ledger.servers.set(name, {
        id: serverId, name, owner, passwordHash: CONTRACT_SERVER_HASH, model: 'm', maxLength: 80, maxContentLength: 1024,
        tokensGenerated: 0, requestsFulfilled: 0, recentJobs: [], createdAt: 0, lastSeenAt: 0, maintenance: false, info: '',
      });
      return Promise.resolve();
    },
    setMaintenance: (serverId, maintenance) => Promise.resolve(void Object.assign(ledger.servers.get(contractServerName(serverId)) ?? {}, { maintenance })),
    changeOwner: (serverId, owner) => Promise.resolve(void ledger.owners.set(serverId, owner)),
    removeServer: (serverId) => Promise.resolve(void ledger.owners.delete(serverId)),
  });
});
