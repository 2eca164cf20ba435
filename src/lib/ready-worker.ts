/**
 * Helper workers the page starts itself and lends to the engine's or the disc's worker by port
 * (compression, hashing). A worker that starts its own workers (nested) was seen stuck for good
 * inside Firefox's Worker constructor in private windows, in about one job in fifteen.
 */
import { WORKER_READY } from '../../workers/expose.ts';

const START_TIMEOUT_MS = 15_000;

/** The worker once it said it is ready; null for one whose script failed or stayed silent. */
export function startReadyWorker(make: () => Worker): Promise<Worker | null> {
  return new Promise((resolve) => {
    const worker = make();
    const settle = (ready: boolean) => {
      clearTimeout(timer);
      worker.onmessage = worker.onerror = null;
      if (!ready) worker.terminate();
      resolve(ready ? worker : null);
    };
    const timer = setTimeout(() => settle(false), START_TIMEOUT_MS);
    worker.onmessage = (event: MessageEvent) => (event.data as { type?: string } | null)?.type === WORKER_READY && settle(true);
    worker.onerror = () => settle(false);
  });
}

/** A new line to a ready worker, for one job: the worker gets one end, the job the other. */
export function connect(worker: Worker): MessagePort {
  const channel = new MessageChannel();
  worker.postMessage({ connect: channel.port1 }, [channel.port1]);
  return channel.port2;
}
