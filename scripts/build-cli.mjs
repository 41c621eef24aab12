// Builds the CLI into dist/: one bundle of vmlab and its dependencies (src/main.ts -> dist/main.js), with
// each command's module in a chunk of its own, still loaded only when the command runs (the dynamic
// imports of src/cli.ts). Node then reads a handful of files at start-up instead of several hundred, which
// is most of what `make list` cost. Types are checked by `make lint` (tsc --noEmit), not here.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/main.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
  // Some dependencies are CommonJS and call require(); give the ES module bundle one.
  banner: { js: "import { createRequire as vmlabCreateRequire } from 'node:module'; const require = vmlabCreateRequire(import.meta.url);" },
});
