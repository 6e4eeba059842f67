/** What became of one item given to {@link mapPool}. */
export type PoolOutcome<R> =
  | { status: "done"; value: R }
  | { status: "error"; error: unknown }
  /** The signal was aborted before this item was started. */
  | { status: "not-started" };

/**
 * Maps `items` through `worker` with at most `limit` calls in flight, keeping the input order in the result.
 * Workers pick the next item as soon as they are free (no waves), so one slow item does not hold up the rest.
 * Once `signal` is aborted no new item starts; those in flight finish. A throwing worker fails only its item.
 */
export async function mapPool<T, R>(
  items: readonly T[],
  limit: number,
  worker: (item: T, index: number) => Promise<R>,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<PoolOutcome<R>[]> {
  const outcomes: PoolOutcome<R>[] = items.map(() => ({ status: "not-started" }));
  let next = 0;
  const run = async () => {
    while (next < items.length && !options.signal?.aborted) {
      const index = next++;
      try {
        outcomes[index] = { status: "done", value: await worker(items[index] as T, index) };
      } catch (error) {
        outcomes[index] = { status: "error", error };
      }
    }
  };
  const width = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: width }, run));
  return outcomes;
}

/** Splits a list into consecutive slices of at most `size` (API batch limits). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Runs calls so that at most a fixed number are in progress at once. */
export type Limiter = <T>(call: () => Promise<T>) => Promise<T>;

/**
 * A limiter of `limit` calls in progress; the others wait their turn in arrival order. Scaling runs every
 * AWS call through one, so `concurrency` means calls in flight (what API rate limits count), however many
 * services are interleaved.
 */
export function createLimiter(limit: number): Limiter {
  const max = Math.max(1, limit);
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    active--;
    waiting.shift()?.();
  };
  return async <T>(call: () => Promise<T>): Promise<T> => {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await call();
    } finally {
      release();
    }
  };
}
