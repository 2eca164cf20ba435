import { mount } from 'svelte';
import App from './App.svelte';
import { sweepStaged } from './lib/outputs.ts';
import './app.css';

mount(App, { target: document.getElementById('app')! });

// What earlier visits left staged is removed now, while the user picks a file: removing a GiB
// took 0.27 s, which a job started later would wait for before it could open its own output.
void sweepStaged().catch(() => {});

// Offline after the first visit: the service worker serves this site's own files from its cache.
if ('serviceWorker' in navigator && import.meta.env.PROD) {
  navigator.serviceWorker.register('./sw.js').catch(() => {
    // Without it the app still works; it just needs the network to load next time.
  });
}
