// Jest setup file (after the framework) of the `e2e-redis` project: a test file's first app also starts its
// private redis-server, which on a loaded 2-core machine can take longer than jest's default 5 s hook timeout.
// Files that set a longer timeout themselves keep theirs.
jest.setTimeout(30_000);
