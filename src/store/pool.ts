// Bounded concurrency for transfers (push/pull run hundreds of S3 requests).

/**
 * Runs `fn` over `items` with at most `concurrency` calls in flight and returns
 * the results in input order. On the first error no new item is started, the
 * signal passed to running calls is aborted, and once those have settled the
 * promise rejects with that first error. Waiting for them (rather than
 * rejecting at once) means nothing started by the pool is still touching files
 * or the network when the caller's cleanup (temp files, the lock) runs.
 *
 * `items` may be an async iterable, so a listing can feed uploads without
 * being collected first.
 */
export async function pool<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  concurrency: number,
  fn: (item: T, index: number, signal: AbortSignal) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`pool: concurrency must be a positive integer, got ${concurrency}`);
  }
  const iterator: Iterator<T> | AsyncIterator<T> =
    Symbol.asyncIterator in items
      ? (items as AsyncIterable<T>)[Symbol.asyncIterator]()
      : (items as Iterable<T>)[Symbol.iterator]();
  const controller = new AbortController();
  const results: R[] = [];
  let nextIndex = 0;
  let failed = false;
  let firstError: unknown;
  let done = false;

  // Calls to next() are chained so that a generic async iterator (not only an
  // async generator, which queues by itself) never sees overlapping calls.
  let pulling: Promise<unknown> = Promise.resolve();
  const take = (): Promise<{ item: T; index: number } | null> => {
    const step = pulling.then(async () => {
      if (done || failed) return null;
      const r = await iterator.next();
      if (r.done) {
        done = true;
        return null;
      }
      return { item: r.value, index: nextIndex++ };
    });
    pulling = step.catch(() => undefined);
    return step;
  };

  const worker = async (): Promise<void> => {
    for (;;) {
      let next: { item: T; index: number } | null;
      try {
        next = await take();
      } catch (err) {
        fail(err);
        return;
      }
      if (!next) return;
      try {
        results[next.index] = await fn(next.item, next.index, controller.signal);
      } catch (err) {
        fail(err);
        return;
      }
    }
  };

  function fail(err: unknown): void {
    if (failed) return;
    failed = true;
    firstError = err;
    controller.abort(err);
  }

  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failed) {
    // Let a generator run its finally blocks (close files, streams).
    if (!done) await Promise.resolve(iterator.return?.()).catch(() => undefined);
    throw firstError;
  }
  return results;
}
