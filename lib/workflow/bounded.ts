/**
 * Runs `work` over the items in order, at most `limit` at once: each lane takes the next item when its last one
 * ends. Deterministic (workflow code): the same items start in the same order on every replay.
 */
export async function forEachBounded<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
