// Bundles the editors into one directory: editors.js (the entry, an ES module), its chunks, editors.css.
// Usage: node build.mjs <outdir>
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { relative, resolve } from 'node:path';

const outdir = process.argv[2] && resolve(process.argv[2]);
if (!outdir) {
  console.error('usage: node build.mjs <outdir>');
  process.exit(2);
}
const here = new URL('.', import.meta.url).pathname;
// Chunk names carry content hashes; start clean so old chunks do not pile up.
rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: here,
  entryPoints: [
    { in: 'src/index.js', out: 'editors' },
    { in: 'src/editors.css', out: 'editors' },
  ],
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  minify: true,
  target: ['es2022'],
  // CKEditor's and CodeMirror's licence comments go to one file beside the bundle.
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});
const sizes = Object.entries(result.metafile.outputs)
  .filter(([file]) => !file.endsWith('.map'))
  .map(([file, { bytes }]) => `${relative(outdir, resolve(here, file))} ${bytes}`);
if (process.env.EDITORS_SIZES) console.log(sizes.join('\n'));
