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
  build: { target: 'es2022', sourcemap: true },
});
