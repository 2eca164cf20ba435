/**
 * Downloads streamed as they convert: the page hands over a MessagePort under a one-off id, then
 * opens ./__download/<id>; the answer is a ReadableStream that asks the engine (at the port's
 * other end) for one chunk at a time, so only the stream's small queue is ever in memory. Each id
 * is answered once. The page pings every few seconds while a stream runs, which keeps the worker
 * alive in browsers that stop idle ones.
 */
const DOWNLOADS = `const DOWNLOAD_PREFIX = new URL('./__download/', self.registration.scope).pathname;
const downloads = new Map();
self.addEventListener('message', (event) => {
  const message = event.data;
  if (message?.type === 'diskimg-download') {
    const entry = { port: message.port, name: message.name, size: message.size, aborted: false };
    attach(entry, message.id);
    downloads.set(message.id, entry);
    message.ack.postMessage('ready');
    message.ack.close();
  } else if (message?.type === 'diskimg-download-abort') {
    const entry = downloads.get(message.id);
    // The page gives up on a download it never heard start, but the worker's word that it started
    // can reach the page late (WebKit, a busy machine): a download already taken goes on.
    if (entry && !(message.reason === 'unheard' && entry.controller)) entry.fail(message.reason);
  }
});
const tell = (message) => self.clients.matchAll({ includeUncontrolled: true, type: 'window' }).then((all) => all.forEach((c) => c.postMessage(message)));
// The first bytes of each download are kept until REPLAY is passed: a browser that drops a
// frame's download early (Firefox) is asked again by a link, and gets them from the start.
const REPLAY = 32 << 20;
function attach(entry, id) {
  entry.replay = [];
  entry.replayed = 0;
  const more = () => {
    const controller = entry.controller;
    if (controller && controller.desiredSize > 0) entry.port.postMessage('more');
    else entry.waiting = true;
  };
  entry.more = more;
  // Nothing is said on the port before the engine's hello (it holds the port, its output is
  // open), which is passed on to the page: only then does the page start the download.
  entry.kick = () => {
    if (!entry.hello) return;
    if (entry.failed) return entry.fail(entry.failed);
    if (entry.controller && !entry.started) {
      entry.started = true;
      entry.port.postMessage('more');
    }
  };
  entry.port.onmessage = (e) => {
    const m = e.data;
    if (m?.hello) {
      entry.hello = true;
      tell({ type: 'diskimg-download-engine', id });
      entry.kick();
    } else if (m?.chunk) {
      if (entry.replay) {
        entry.replay.push(m.chunk);
        entry.replayed += m.chunk.byteLength;
        if (entry.replayed > REPLAY) entry.replay = null;
      }
      entry.controller?.enqueue(m.chunk);
      more();
    } else if (m?.done) {
      entry.done = true;
      entry.controller?.close();
      entry.finish?.();
      // Kept a while for a retry, then forgotten.
      setTimeout(() => downloads.delete(id), 60_000);
    } else if (m?.abort) entry.fail();
  };
  // The engine hears why (a cancel, or a download the browser never took) instead of waiting.
  entry.fail = (reason) => {
    entry.aborted = true;
    try { entry.controller?.error(new Error('cancelled')); } catch {}
    if (!entry.hello) {
      // Said once the engine holds the port (if it ever does: the entry goes in a minute).
      entry.failed = reason ?? 'cancel';
      setTimeout(() => downloads.delete(id), 60_000);
      return;
    }
    entry.port.postMessage(reason ?? 'cancel');
    entry.port.close();
    downloads.delete(id);
    entry.finish?.();
  };
}
function streamDownload(event, id) {
  const entry = downloads.get(id);
  if (!entry || entry.used) return event.respondWith(new Response('This download is over; convert again.', { status: 404 }));
  entry.used = true;
  tell({ type: 'diskimg-download-fetch', id });
  const finished = new Promise((resolve) => (entry.finish = resolve));
  const stream = new ReadableStream({
    start(controller) {
      if (entry.aborted) return controller.error(new Error('cancelled'));
      entry.controller = controller;
      for (const chunk of entry.replay ?? []) controller.enqueue(chunk);
      if (entry.done) return controller.close();
      entry.kick();
    },
    pull() {
      if (entry.waiting) {
        entry.waiting = false;
        entry.more();
      }
    },
    cancel() {
      entry.controller = undefined;
      if (entry.replay) {
        // Every byte is still here: the page asks again with a link.
        entry.used = false;
        entry.finish?.();
        return tell({ type: 'diskimg-download-retry', id });
      }
      entry.port.postMessage('cancel');
      entry.port.close();
      downloads.delete(id);
      entry.finish?.();
    },
  }, { highWaterMark: 8 << 20, size: (chunk) => chunk.byteLength });
  const headers = { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store', 'Content-Disposition': "attachment; filename*=UTF-8''" + encodeURIComponent(entry.name) };
  if (entry.size !== undefined) headers['Content-Length'] = String(entry.size);
  event.respondWith(new Response(stream, { headers }));
  event.waitUntil(finished);
}`;

/**
 * Emits sw.js, a service worker that precaches every file of the build, so the app works offline
 * after the first visit. Hand-written: it only serves this site's own files, cache first.
 */
import type { Plugin } from 'vite';

function serviceWorker(version: string, files: string[]): string {
  return `// diskimg offline cache ${version}: generated at build time by sw-plugin.ts
const CACHE = 'diskimg-${version}';
const FILES = ${JSON.stringify(['./', ...files])};
self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});
self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((key) => key.startsWith('diskimg-') && key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});
${DOWNLOADS}
self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith(DOWNLOAD_PREFIX)) return streamDownload(event, url.pathname.slice(DOWNLOAD_PREFIX.length));
  // ignoreVary: module scripts are requested with an Origin header the precache requests lacked.
  event.respondWith(caches.match(event.request, { ignoreSearch: true, ignoreVary: true }).then((hit) => hit ?? fetch(event.request)));
});
`;
}

/**
 * Without the service worker (WebKit sends <a download> straight to the network) a download URL
 * must not become a file: the dev and preview servers answer it 404, as a static host does.
 */
const noDownloadFallback: Plugin = {
  name: 'diskimg-download-urls-404',
  configureServer: (server) => void server.middlewares.use(refuseDownloads),
  configurePreviewServer: (server) => void server.middlewares.use(refuseDownloads),
};

function refuseDownloads(req: { url?: string }, res: { statusCode: number; end(body: string): void }, next: () => void): void {
  if (req.url?.includes('/__download/')) {
    res.statusCode = 404;
    res.end('Not found');
  } else next();
}

export function offlineServiceWorker(): Plugin[] {
  return [
    noDownloadFallback,
    {
      name: 'diskimg-offline-service-worker',
      apply: 'build',
      generateBundle(_options, bundle) {
        const files = Object.keys(bundle)
          .filter((name) => !name.endsWith('.map'))
          .map((name) => `./${name}`);
        const publicFiles = ['./favicon.svg', './manifest.webmanifest', './icon-192.png'];
        const version = Date.now().toString(36);
        this.emitFile({ type: 'asset', fileName: 'sw.js', source: serviceWorker(version, [...files, ...publicFiles]) });
      },
    },
  ];
}
