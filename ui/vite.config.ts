// Vite build of the management web UI: ui/ → ui/dist, served by src/management/ui.ts.
// `npx vite --config ui/vite.config.ts` runs a dev server that proxies /api to a local broker.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
  server: {
    proxy: { '/api': process.env.WARREN_MANAGEMENT_URL ?? 'http://127.0.0.1:15672' },
  },
});
