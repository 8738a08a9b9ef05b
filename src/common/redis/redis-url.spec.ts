import { describeRedisTarget, parseRedisUrl } from './redis-url';

describe('parseRedisUrl', () => {
  it.each([
    ['redis://localhost', { host: 'localhost', port: 6379 }],
    ['redis://redis.internal:6380/2', { host: 'redis.internal', port: 6380, db: 2 }],
    ['redis://:s3cret@10.0.0.5:6379', { host: '10.0.0.5', port: 6379, password: 's3cret' }],
    ['redis://kc:p%40ss@h:1/0', { host: 'h', port: 1, username: 'kc', password: 'p@ss', db: 0 }],
    ['redis://[::1]:7000', { host: '::1', port: 7000 }],
    ['rediss://cache.example.com:6380', { host: 'cache.example.com', port: 6380, tls: { servername: 'cache.example.com' } }],
    ['unix:///run/redis/redis.sock', { path: '/run/redis/redis.sock' }],
    ['unix:///run/redis/redis.sock?db=3', { path: '/run/redis/redis.sock', db: 3 }],
    ['/var/run/redis.sock', { path: '/var/run/redis.sock' }],
  ])('reads %s', (url, expected) => {
    expect(parseRedisUrl(url)).toEqual(expected);
  });

  it.each([
    ['localhost:6379', /unsupported scheme "localhost:"/],
    ['http://localhost:6379', /unsupported scheme "http:"/],
    ['redis://localhost:6379/x', /database must be a whole number/],
    ['redis://localhost:99999', /redis:\/\/host/],
    ['redis://localhost?timeout=5', /unknown parameter "timeout"/],
    ['unix://relative/redis.sock', /unix:\/\/\/absolute/],
    ['unix:///run/redis.sock?db=one', /database must be a whole number/],
    ['relative/redis.sock', /redis:\/\/host/],
  ])('refuses %s, saying why', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  it('describes a target without its credentials', () => {
    expect(describeRedisTarget(parseRedisUrl('redis://kc:s3cret@h:6380/1'))).toBe('redis://h:6380 db 1');
    expect(describeRedisTarget(parseRedisUrl('rediss://:s3cret@h'))).toBe('rediss://h:6379');
    expect(describeRedisTarget(parseRedisUrl('unix:///tmp/r.sock'))).toBe('unix socket /tmp/r.sock');
  });
});
