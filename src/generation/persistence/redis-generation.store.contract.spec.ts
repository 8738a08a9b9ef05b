import { useTestRedis } from '../../../test/support/redis-server';
import { RedisServerRepository, serverKeys } from '../../servers/persistence/redis-server.repository';
import { RedisUserRepository } from '../../users/persistence/redis-user.repository';
import { CONTRACT_SERVER_HASH, contractServerName, describeGenerationStoreContract } from './generation.store.contract';
import { RedisGenerationStore } from './redis-generation.store';

// The shared contract, run against the Redis adapter: credits are read back from the Redis users and servers.

const redis = useTestRedis();

describeGenerationStoreContract('Redis', async () => {
  const connection = await redis.flush();
  const users = new RedisUserRepository(connection);
  const servers = new RedisServerRepository(connection);
  return {
    store: new RedisGenerationStore(connection),
    credited: {
      usage: async (username) => (await users.findByUsername(username))?.usage ?? 0,
      contributions: async (username) => (await users.findByUsername(username))?.contributions ?? 0,
      serverJobs: async (serverId) => {
        const server = await servers.findById(serverId);
        if (!server) return { jobs: 0, tokens: 0, seconds: 0 };
        return { jobs: server.requestsFulfilled, tokens: server.tokensGenerated, seconds: server.recentJobs.reduce((total, job) => total + job.seconds, 0) };
      },
    },
    addServer: async (serverId, owner) => {
      await servers.create({
        id: serverId, name: contractServerName(serverId), owner, passwordHash: CONTRACT_SERVER_HASH, model: 'm', maxLength: 80, maxContentLength: 1024,
        tokensGenerated: 0, requestsFulfilled: 0, recentJobs: [], createdAt: 0, lastSeenAt: 0, maintenance: false, info: '',
      });
    },
    setMaintenance: async (serverId, maintenance) => {
      await servers.updateSettings(serverId, { maintenance });
    },
    changeOwner: async (serverId, owner) => {
      await connection.run((client) => client.hset(serverKeys(serverId)[0], 'owner', owner));
    },
    removeServer: async (serverId) => {
      await servers.deleteById(serverId);
    },
  };
});
