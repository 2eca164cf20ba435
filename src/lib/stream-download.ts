/**
 * A download streamed as it converts, through the app's own service worker (sw-plugin.ts): the
 * worker is handed one end of a MessagePort under a one-off id and answers ./__download/<id> with
 * a stream; the engine fills it through the other end (workers/sinks.ts StreamSink).
 */

export interface StreamDownload {
  /** The engine's end of the stream: transfer it to the worker. */
  port: MessagePort;
  /** Starts the browser's download (the stream then asks the engine for bytes). */
  start(): void;
  /** Ends a stream the engine will not finish: the browser shows a failed download. */
  abort(): void;
  /** Stops keeping the service worker awake. */
  stop(): void;
}

/** The active service worker that can answer a download stream, if this window has one. */
async function activeWorker(): Promise<ServiceWorker | null> {
  try {
    const container = navigator.serviceWorker;
    if (!container || typeof ReadableStream === 'undefined' || typeof MessageChannel === 'undefined') return null;
    const registration = await Promise.race([container.ready, new Promise<null>((resolve) => setTimeout(() => resolve(null), 3000))]);
    return registration?.active ?? null;
  } catch {
    return null;
  }
}

/** Feature test and set-up in one: null when no service worker answers here (then the page says so). */
export async function openStreamDownload(name: string, size?: number): Promise<StreamDownload | null> {
  const worker = await activeWorker();
  if (!worker) return null;
  const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  // The stream's port is the engine's alone: the worker answers "ready" on another, and speaks
  // on this one only after the engine's hello (sw-plugin.ts). Never started here, so nothing
  // that reached it before its transfer is lost (Firefox drops what reaches a started port with
  // no listener; an unstarted port keeps its messages, and they go with it).
  const channel = new MessageChannel();
  const ack = new MessageChannel();
  const ready = new Promise<boolean>((resolve) => {
    ack.port2.onmessage = (event) => resolve(event.data === 'ready');
    setTimeout(() => resolve(false), 3000);
  });
  try {
    worker.postMessage({ type: 'diskimg-download', id, name, size, port: channel.port1, ack: ack.port1 }, [channel.port1, ack.port1]);
  } catch {
    return null;
  }
  const answered = await ready;
  ack.port2.close();
  if (!answered) return null;
  const scope = new URL('./', location.href);
  const url = new URL(`./__download/${id}`, scope).href;
  const ping = setInterval(() => worker.postMessage({ type: 'diskimg-ping' }), 10_000);
  // The download starts once the engine holds its port and has opened its output (the worker
  // passes its hello on): in a Firefox private window, a link clicked while the engine was
  // starting its compression workers left the engine stuck in the Worker constructor for good,
  // in about one job in fifteen.
  let engineReady = false;
  let begin: (() => void) | undefined;
  let unheard: ReturnType<typeof setTimeout> | undefined;
  let next = () => {};
  const listen = (event: MessageEvent) => {
    if (event.data?.id !== id) return;
    if (event.data.type === 'diskimg-download-engine') {
      engineReady = true;
      begin?.();
    }
    if (event.data.type === 'diskimg-download-fetch') clearTimeout(unheard);
    if (event.data.type === 'diskimg-download-retry') next();
  };
  navigator.serviceWorker.addEventListener('message', listen);
  const stop = () => {
    clearInterval(ping);
    clearTimeout(unheard);
    navigator.serviceWorker.removeEventListener('message', listen);
  };
  return {
    port: channel.port2,
    start() {
      // Two ways to start a download, tried in turn: a link (WebKit sends <a download> straight
      // to the network, so the worker never hears of it), then a frame (Firefox drops a frame's
      // download, sometimes after taking its first bytes: the worker keeps them for a retry).
      const ways = [
        () => {
          const link = document.createElement('a');
          link.href = url;
          link.download = '';
          link.click();
        },
        () => {
          const frame = document.createElement('iframe');
          frame.title = 'download';
          frame.style.cssText = 'position:absolute;width:1px;height:1px;border:0;opacity:0;pointer-events:none';
          frame.src = url;
          document.body.append(frame);
        },
      ];
      // Each way waits a while for the worker to hear the request (the last one longer, for a
      // busy machine); when none is heard, or the browser drops the last, the job fails with
      // that reason instead of waiting for ever.
      next = () => {
        const way = ways.shift();
        if (!way) {
          // The worker ends the job unless the browser did take the download (its word can be
          // late): the ping and the listener stay until the job ends either way.
          worker.postMessage({ type: 'diskimg-download-abort', id, reason: 'unheard' });
          return;
        }
        way();
        unheard = setTimeout(next, ways.length ? 2000 : 10_000);
      };
      begin = () => {
        begin = undefined;
        next();
      };
      if (engineReady) begin();
    },
    abort() {
      worker.postMessage({ type: 'diskimg-download-abort', id });
      stop();
    },
    stop,
  };
}

/** A Blob (small outputs only) handed to the browser's downloads. */
export function downloadBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
