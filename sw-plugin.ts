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
self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  // ignoreVary: module scripts are requested with an Origin header the precache requests lacked.
  event.respondWith(caches.match(event.request, { ignoreSearch: true, ignoreVary: true }).then((hit) => hit ?? fetch(event.request)));
});
`;
}

export function offlineServiceWorker(): Plugin {
  return {
    name: 'diskimg-offline-service-worker',
    apply: 'build',
    generateBundle(_options, bundle) {
      const files = Object.keys(bundle).filter((name) => !name.endsWith('.map')).map((name) => `./${name}`);
      const publicFiles = ['./favicon.svg', './manifest.webmanifest', './icon-192.png'];
      const version = Date.now().toString(36);
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: serviceWorker(version, [...files, ...publicFiles]) });
    },
  };
}
