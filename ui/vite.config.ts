import { defineConfig } from "vite";

// The build goes into the Python package, which serves it (overture/ui/static).
export default defineConfig({
  build: {
    outDir: "../operator/overture/ui/static",
    emptyOutDir: true,
    assetsDir: "assets",
    chunkSizeWarningLimit: 2000,
  },
  server: { proxy: { "/api": "http://127.0.0.1:8090" } },
});
