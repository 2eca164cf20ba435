/**
 * Runs tasks with up to `concurrency` in flight and hands their results over in submission order,
 * so reading (and decoding) the next pieces overlaps with writing the current one, while memory
 * stays bounded by `concurrency` results.
 */
export async function runOrdered<T>(
  tasks: AsyncIterable<() => Promise<T>>,
  concurrency: number,
  consume: (result: T) => Promise<void>,
): Promise<void> {
  const inFlight: Promise<T>[] = [];
  try {
    for await (const task of tasks) {
      const started = task();
      started.catch(() => {}); // surfaced when awaited below, in order
      inFlight.push(started);
      if (inFlight.length >= concurrency) await consume(await inFlight.shift()!);
    }
    while (inFlight.length > 0) await consume(await inFlight.shift()!);
  } finally {
    // Let abandoned reads settle so nothing rejects unobserved after an error.
    await Promise.allSettled(inFlight);
  }
}
