import { StaleServersCursor } from './stale-servers-cursor';

/** The behaviour every StaleServersCursor adapter must have: run it from each adapter's spec with a factory of fresh cursors. */
export function describeStaleServersCursorContract(adapter: string, create: () => Promise<StaleServersCursor>): void {
  describe(`StaleServersCursor contract: ${adapter}`, () => {
    it('claims from an unset position the first time, then the interval since the last advance', async () => {
      const cursor = await create();
      expect(await cursor.advance(1_000)).toEqual({ claimed: true, from: undefined });
      expect(await cursor.advance(11_000)).toEqual({ claimed: true, from: 1_000 });
      expect(await cursor.advance(21_000)).toEqual({ claimed: true, from: 11_000 });
    });

    it('claims nothing when it is already at or beyond the cut-off (another sweep got there first, or a clock behind)', async () => {
      const cursor = await create();
      await cursor.advance(5_000);
      expect(await cursor.advance(5_000)).toEqual({ claimed: false });
      expect(await cursor.advance(4_000)).toEqual({ claimed: false });
      expect(await cursor.advance(6_000)).toEqual({ claimed: true, from: 5_000 });
    });

    it('hands each interval to one of many concurrent advances: the claimed intervals tile the way, without overlap', async () => {
      const cursor = await create();
      await cursor.advance(0);
      const tos = [30, 10, 50, 20, 40];
      const claims = await Promise.all(tos.map((to) => cursor.advance(to)));
      const intervals = claims.flatMap((claim, i) => (claim.claimed ? [[claim.from ?? NaN, tos[i]]] : [])).sort((a, b) => a[0] - b[0]);
      expect(intervals[0][0]).toBe(0);
      for (let i = 1; i < intervals.length; i += 1) expect(intervals[i][0]).toBe(intervals[i - 1][1]);
      expect(intervals[intervals.length - 1][1]).toBe(50);
    });
  });
}
