import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The pchat server serves web/dist at "/" (PCHAT_STATIC_DIR), and an operator may mount it
// under another path behind a proxy: relative asset URLs work in both cases.
export default defineConfig({
  base: './',
  plugins: [react()],
  server: {
    // `npm run dev` talks to a pchat server on 8080 (`make run`) through Vite's proxy.
    proxy: {
      '/public-chat/ws': { target: 'ws://127.0.0.1:8080', ws: true },
      '/demo': 'http://127.0.0.1:8080',
      '/healthz': 'http://127.0.0.1:8080',
      '/public-chat/admin': 'http://127.0.0.1:8080',
    },
  },
  build: {
    outDir: 'dist',
    sourcemap: false,
    // Two pages: the demo, and the admin console that `pchat serve` serves at /console.
    rollupOptions: { input: { main: 'index.html', console: 'console.html' } },
  },
});
