// The dashboard's build: one hashed script and one stylesheet under dist/assets, served by the daemon at /ui/.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/ui/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The daemon's CSP allows no inline script: Vite's module preload polyfill is not needed by the browsers we target.
    modulePreload: { polyfill: false },
    target: 'es2022',
    reportCompressedSize: false,
    assetsInlineLimit: 0,
  },
});
