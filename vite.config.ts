import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { offlineServiceWorker } from './sw-plugin.ts';

export default defineConfig({
  resolve: {
    // The zstd package's emscripten Module, which its exports map hides: the workers reuse one
    // compression context through it instead of making one per cluster (see compress.worker.ts).
    alias: { 'zstd-wasm-module': fileURLToPath(new URL('./node_modules/@bokuweb/zstd-wasm/dist/web/module.js', import.meta.url)) },
  },
  // Relative asset URLs: dist/ works from any sub-path of any static host.
  base: './',
  plugins: [svelte(), offlineServiceWorker()],
  worker: { format: 'es' },
  // No source maps in dist/: nothing there reads them (the service worker does not cache them,
  // bench/profile-browser.ts reports the shipped file:line) and they were 2.4 MB of the upload.
  // `npx vite build --sourcemap` makes them when debugging the built page.
  build: { target: 'es2022', sourcemap: false },
});
