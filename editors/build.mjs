// Bundles the editors into one directory: editors.js (the entry, an ES module), its chunks, editors.css.
// Usage: node build.mjs <outdir>
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
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
// Compressed copies beside each file: the server's static file handler (tower-http's ServeDir, through
// leptos_axum) sends `x.js.br` or `x.js.gz` for `x.js` to browsers that accept them. CKEditor is 1.2 MB
// as it is, a quarter of that compressed.
let plain = 0;
let brotli = 0;
for (const file of Object.keys(result.metafile.outputs)) {
  if (!/\.(js|css)$/.test(file)) continue;
  const path = resolve(here, file);
  const bytes = readFileSync(path);
  const br = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } });
  writeFileSync(`${path}.gz`, gzipSync(bytes, { level: 9 }));
  writeFileSync(`${path}.br`, br);
  plain += bytes.length;
  brotli += br.length;
}
const kib = (n) => `${Math.round(n / 1024)} KiB`;
console.log(`editors: bundled into ${relative(process.cwd(), outdir) || '.'} (${kib(plain)}, ${kib(brotli)} with brotli)`);
