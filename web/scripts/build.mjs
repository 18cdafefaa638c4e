// Builds dist/ with esbuild: a self-contained ES module for a plain <script type="module">
// (hash-wasm inlined), its hashing Worker beside it, and the Uppy example apps the browser
// tests load. Bundlers use src/ directly (package.json "exports").
import { build } from "esbuild";

const common = { bundle: true, format: "esm", platform: "browser", target: "es2022", sourcemap: true, logLevel: "warning" };

await Promise.all([
  build({ ...common, entryPoints: { upvault: "src/index.js", "hash-worker": "src/hash-worker.js" }, outdir: "dist" }),
  build({
    ...common,
    entryPoints: { "uppy-v5-example": "examples/uppy-v5/main.js", "uppy-v6-example": "examples/uppy-v6/main.js" },
    outdir: "dist",
  }),
]);
