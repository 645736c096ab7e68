// The editors bundle (target/site/pkg/editors/, built from editors/ by scripts/build.sh) on a page of its
// own: editors/test/harness.html, served with the bundle by a throwaway HTTP server on 127.0.0.1. The
// content comes from the real Trilium 0.63.7 fixture document.
import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, resolve } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';

const bundleDir = resolve(process.env.CANOPY_SITE_ROOT ?? '../target/site', 'pkg/editors');
const harnessFile = resolve('../editors/test/harness.html');
const fixtureDir = resolve(process.env.CANOPY_TRILIUM_FIXTURES ?? '../server/tests/fixtures/trilium-0.63.7');

type FixtureNote = { noteId: string; title: string; type: string; mime: string; content: string };

/** Text and code notes of the fixture document, read with Python's sqlite3 (read-only, immutable). */
function fixtureNotes(): FixtureNote[] {
  const script = `
import json, sqlite3, sys
db = sqlite3.connect('file:' + sys.argv[1] + '?immutable=1', uri=True)
rows = db.execute("""SELECT n.noteId, n.title, n.type, n.mime, b.content FROM notes n JOIN blobs b ON b.blobId = n.blobId
  WHERE n.isDeleted = 0 AND n.isProtected = 0 AND n.type IN ('text', 'code') ORDER BY n.noteId""").fetchall()
print(json.dumps([dict(noteId=r[0], title=r[1], type=r[2], mime=r[3], content=r[4] if isinstance(r[4], str) else '') for r in rows]))
`;
  return JSON.parse(execFileSync('python3', ['-c', script, join(fixtureDir, 'document.db')], { encoding: 'utf8' }));
}

const manifest = () => JSON.parse(readFileSync(join(fixtureDir, 'manifest.json'), 'utf8'));

/** What Trilium 0.63 writes beyond the fixture's notes (its editor's plugins and the markup it keeps). */
const TRILIUM_CONSTRUCTS = [
  '<section class="include-note" data-note-id="B6FfWacXADgx" data-box-size="medium">&nbsp;</section><p>after the included note</p><section class="include-note" data-note-id="vbPbh2s8xe2G">&nbsp;</section>',
  '<p>Euler: <span class="math-tex">\\(e^{i\\pi} + 1 = 0\\)</span>, <mark>marked</mark>, <kbd>Ctrl</kbd>+<kbd>S</kbd>, <span style="color:hsl(0,75%,60%);">red</span>, <span style="background-color:hsl(60,75%,60%);">yellow</span>, <span class="text-big">big</span>, <span class="text-tiny">tiny</span></p>',
  '<figure class="image image-style-align-left image_resized" style="width:50%;"><img src="api/attachments/Ab12Cd34Ef56/image/photo.png" alt="a photo"><figcaption>A caption</figcaption></figure><p>inline <img src="api/images/Gh78Ij90Kl12/diagram.png"> image</p><figure class="image image-style-side"><img src="api/attachments/Mn34Op56Qr78/image/side.png"></figure><figure class="image"><a href="https://example.com/full.png"><img src="api/attachments/St90Uv12Wx34/image/linked.png"></a></figure>',
  '<figure class="table" style="width:80%;"><table class="ck-table-resized" style="border:2px solid hsl(0, 0%, 30%);background-color:hsl(0, 0%, 90%);"><colgroup><col style="width:30%;"><col style="width:70%;"></colgroup><tbody><tr><td style="background-color:hsl(120, 75%, 60%);border:1px dashed hsl(0, 0%, 0%);">a</td><td style="text-align:right;vertical-align:top;">b</td></tr><tr><td colspan="2">merged</td></tr></tbody></table><figcaption>Table caption</figcaption></figure>',
  '<ol style="list-style-type:lower-roman;" start="3" reversed="reversed"><li>three</li><li>two<ul style="list-style-type:square;"><li>nested</li></ul></li></ol><hr><blockquote><p>quoted</p></blockquote>',
  '<p><sub>sub</sub> <sup>sup</sup> <s>strike</s> <u>under</u> <i>italic</i> <strong>bold</strong> <code>inline code</code> <a href="#root/DxE3DMYxawXC">internal link</a> <a class="reference-link" href="#root/DxE3DMYxawXC/v9ZIzkSBYQOW">Engineering</a> <a href="https://example.com/x">external</a></p>',
  '<h2>Two</h2><h3>Three</h3><h4>Four</h4><h5>Five</h5><h6>Six</h6><p style="text-align:center;">centered</p><p style="margin-left:40px;">indented</p>',
  '<pre><code class="language-application-javascript-env-frontend">const a = 1;\nconsole.log(a);</code></pre><pre><code class="language-text-x-sql">SELECT 1;</code></pre><pre><code class="language-text-plain">plain</code></pre>',
  '<div class="admonition note" data-custom="1"><p>a block the editor has no feature for</p></div><details><summary>More</summary><p>hidden</p></details><p><abbr title="HyperText">HTML</abbr> <span data-note-id="xyz" class="custom-span">custom</span></p>',
];

/** A 1×1 PNG, the answer to every image address of the content above. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.txt': 'text/plain' };

let server: Server;
let origin: string;

test.beforeAll(async () => {
  expect(existsSync(join(bundleDir, 'editors.js')), `no bundle in ${bundleDir}: run scripts/build.sh`).toBe(true);
  server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://127.0.0.1').pathname);
    if (path.startsWith('/api/')) {
      response.writeHead(200, { 'content-type': 'image/png' });
      response.end(PNG);
      return;
    }
    const file = path === '/harness.html' ? harnessFile : join(bundleDir, path);
    if (!file.startsWith(bundleDir) && file !== harnessFile) {
      response.writeHead(403).end();
      return;
    }
    if (!existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    response.end(readFileSync(file));
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  origin = `http://127.0.0.1:${address.port}`;
});

test.afterAll(async () => {
  await new Promise((done) => server.close(done));
});

type Watched = { errors: string[]; requests: string[] };

/** Opens the harness and records console errors, page errors and every request. */
async function openHarness(page: Page): Promise<Watched> {
  const watched: Watched = { errors: [], requests: [] };
  page.on('pageerror', (e) => watched.errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && watched.errors.push(m.text()));
  page.on('request', (r) => watched.requests.push(r.url()));
  await page.goto(`${origin}/harness.html`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  // Callbacks the editors call, recorded for the tests.
  await page.evaluate(() => {
    const w = window as any;
    w.calls = { change: 0, search: [] as string[], open: [] as string[], upload: [] as { name: string; type: string; size: number }[] };
    w.callbacks = {
      onChange: () => w.calls.change++,
      searchNotes: async (query: string) => {
        w.calls.search.push(query);
        return [
          { noteId: '7DeOYqP5GqCv', title: 'Sync protocol notes', path: 'Fixture Notebook › Engineering' },
          { noteId: 'm9gtvVOms2f1', title: 'SQLite WAL', path: 'Fixture Notebook › Engineering' },
        ].filter((n) => n.title.toLowerCase().includes(query.toLowerCase()));
      },
      openNote: (noteId: string) => w.calls.open.push(noteId),
      uploadImage: async (file: File) => {
        w.calls.upload.push({ name: file.name, type: file.type, size: file.size });
        return { src: 'api/attachments/Up10adedAtt1/image/pasted.png' };
      },
    };
  });
  return watched;
}

function expectAllLocal(watched: Watched) {
  expect(watched.requests.length).toBeGreaterThan(0);
  for (const url of watched.requests) expect(new URL(url).hostname, url).toBe('127.0.0.1');
}

/** Mounts a text editor on #host with the recorded callbacks; `window.handle` is its handle. */
async function mountText(page: Page, html: string, extra: Record<string, unknown> = {}) {
  await page.evaluate(
    async ([html, extra]) => {
      const w = window as any;
      w.handle = await w.editors.mountText(document.getElementById('host'), { html, ...w.callbacks, ...extra });
    },
    [html, extra] as const,
  );
  return page.locator('#host .ck-editor__editable');
}

/** Pastes a PNG file into the text editor, as the clipboard of a screenshot tool delivers it. */
async function pasteImage(page: Page) {
  await page.evaluate((png) => {
    const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
    const target = document.querySelector('#host .ck-editor__editable')!;
    target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, PNG.toString('base64'));
}

const calls = (page: Page) => page.evaluate(() => (window as any).calls);
const getData = (page: Page): Promise<string> => page.evaluate(() => (window as any).handle.getData());

/**
 * The constructs of an HTML fragment, as a sorted multiset: each element with its tag, classes and
 * attributes (style as its sorted declarations), plus the text with whitespace collapsed. CKEditor's
 * `aspect-ratio` on images with a width and height is its own addition and is left out.
 */
function constructs(page: Page, html: string): Promise<{ elements: string[]; text: string }> {
  return page.evaluate((html) => {
    const doc = new DOMParser().parseFromString(`<body>${html}</body>`, 'text/html');
    const elements: string[] = [];
    for (const el of doc.body.querySelectorAll('*')) {
      const attributes = [...el.attributes]
        .filter((a) => a.name !== 'class' && a.name !== 'style')
        .map((a) => `${a.name}=${a.value}`)
        .sort();
      const style = el as HTMLElement;
      const declarations = [...style.style]
        .filter((name) => !(el.tagName === 'IMG' && name === 'aspect-ratio'))
        .map((name) => `${name}:${style.style.getPropertyValue(name)}`)
        .sort();
      elements.push([el.tagName.toLowerCase(), [...el.classList].sort().join('.'), attributes.join(' '), declarations.join(';')].join(' | '));
    }
    return { elements: elements.sort(), text: (doc.body.textContent ?? '').replace(/\s+/g, ' ').trim() };
  }, html);
}

test('the bundle loads with no console errors and no request beyond 127.0.0.1; each editor loads only its own code', async ({ page }) => {
  const watched = await openHarness(page);
  const languages = await page.evaluate(() => (window as any).editors.codeLanguages());
  expect(languages).toContainEqual({ mime: 'text/x-python', label: 'Python', common: true });
  expect(languages).toContainEqual({ mime: 'application/javascript;env=frontend', label: 'JS frontend', common: true });
  expect(languages[0]).toEqual({ mime: 'text/plain', label: 'Plain text', common: true });

  await page.evaluate(async () => {
    const w = window as any;
    w.handle = await w.editors.mountCode(document.getElementById('host'), { text: 'x = 1\n', mime: 'text/x-python' });
  });
  await expect(page.locator('#host .cm-editor')).toBeVisible();
  const codeOnly = [...watched.requests];
  expect(codeOnly.some((u) => /\/chunks\/code-[^/]+\.js$/.test(u))).toBe(true);
  expect(codeOnly.some((u) => /\/chunks\/text-[^/]+\.js$/.test(u)), 'a code note must not load CKEditor').toBe(false);
  expect(codeOnly.some((u) => u.endsWith('/editors.css'))).toBe(true);
  await page.evaluate(() => (window as any).handle.destroy());

  const editable = await mountText(page, '<p>Hello</p>');
  await expect(editable).toHaveText('Hello');
  await expect(page.locator('#host .canopy-text-toolbar .ck-toolbar')).toBeVisible();
  expect(watched.requests.some((u) => /\/chunks\/text-[^/]+\.js$/.test(u))).toBe(true);
  expectAllLocal(watched);
  expect(watched.errors).toEqual([]);
});

test('every file of the bundle has gzip and brotli copies of exactly its content, for the server to send', () => {
  const files = readdirSync(bundleDir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(js|css)$/.test(f));
  expect(files).toContain('editors.js');
  expect(files).toContain('editors.css');
  for (const file of files) {
    const bytes = readFileSync(join(bundleDir, file));
    expect(gunzipSync(readFileSync(join(bundleDir, `${file}.gz`))).equals(bytes), `${file}.gz`).toBe(true);
    expect(brotliDecompressSync(readFileSync(join(bundleDir, `${file}.br`))).equals(bytes), `${file}.br`).toBe(true);
  }
});

test('the HTML of every text note of the Trilium fixture, and what else Trilium writes, survives load and getData', async ({ page }) => {
  const watched = await openHarness(page);
  const notes = fixtureNotes().filter((n) => n.type === 'text' && n.content.trim() !== '');
  expect(notes.length).toBeGreaterThanOrEqual(25);
  const samples = [
    ...notes.map((n) => ({ name: `${n.noteId} ${n.title}`, html: n.content })),
    ...TRILIUM_CONSTRUCTS.map((html, i) => ({ name: `construct ${i}`, html })),
  ];
  // Every construct the issue names is among the samples, so the comparison covers it.
  const all = samples.map((s) => s.html).join('\n');
  for (const marker of ['class="reference-link"', 'class="include-note"', 'class="math-tex"', 'class="todo-list"', '<figure class="table"', 'language-text-x-python', '<blockquote>', '<img ', '<mark>', '<kbd>']) {
    expect(all, marker).toContain(marker);
  }

  // The first sample through mounting, the others through setData (what opening another note does).
  await mountText(page, samples[0].html);
  for (const [i, sample] of samples.entries()) {
    if (i > 0) await page.evaluate((html) => (window as any).handle.setData(html), sample.html);
    const out = await getData(page);
    const before = await constructs(page, sample.html);
    const after = await constructs(page, out);
    expect(after.elements, `${sample.name}\nin:  ${sample.html}\nout: ${out}`).toEqual(before.elements);
    expect(after.text, sample.name).toBe(before.text);
  }
  // Loading and reading never counts as an edit, not even once the images have loaded.
  await page.waitForTimeout(500);
  expect((await calls(page)).change).toBe(0);
  expectAllLocal(watched);
  expect(watched.errors).toEqual([]);
});

test('onChange fires on typing, not on mount or setData; setData is not undoable', async ({ page }) => {
  const watched = await openHarness(page);
  const glossary = fixtureNotes().find((n) => n.noteId === manifest().roles.internalLinks.noteId)!;
  const editable = await mountText(page, glossary.content);
  await expect(editable.locator('a.reference-link')).toHaveCount(2);
  // Clicking around (into a table, a heading) is no edit either.
  await editable.locator('td').first().click();
  await editable.locator('h2').click();
  await page.waitForTimeout(300);
  expect((await calls(page)).change).toBe(0);

  await page.evaluate(() => (window as any).handle.setData('<p>Other note</p>'));
  await expect(editable).toHaveText('Other note');
  await page.waitForTimeout(300);
  expect((await calls(page)).change).toBe(0);
  // Undo right after loading must not bring back the previous note.
  await editable.click();
  await page.keyboard.press('Control+z');
  await expect(editable).toHaveText('Other note');
  expect((await calls(page)).change).toBe(0);

  await page.keyboard.press('End');
  await page.keyboard.type(' typed');
  await expect.poll(async () => (await calls(page)).change).toBeGreaterThan(0);
  expect(await getData(page)).toBe('<p>Other note typed</p>');
  expect(watched.errors).toEqual([]);
});

test('typing @ searches notes and inserts a reference link', async ({ page }) => {
  const watched = await openHarness(page);
  const editable = await mountText(page, '<p>See</p>');
  await editable.click();
  await page.keyboard.press('End');
  await page.keyboard.type(' @SQL');
  const item = page.locator('.ck-mentions .ck-list__item', { hasText: 'SQLite WAL' });
  await expect(item).toBeVisible();
  await expect(item).toContainText('Fixture Notebook › Engineering');
  await page.keyboard.press('Enter');
  await expect(editable.locator('a.reference-link')).toHaveText('SQLite WAL');
  await page.keyboard.type('done');
  expect(await getData(page)).toBe('<p>See <a class="reference-link" href="#root/m9gtvVOms2f1">SQLite WAL</a> done</p>');
  expect((await calls(page)).search).toContain('SQL');
  expect((await calls(page)).change).toBeGreaterThan(0);

  // The toolbar's "link to a note" button starts the same search, with a space after a word.
  await page.keyboard.type(' and');
  await page.locator('#host .ck-toolbar button[data-cke-tooltip-text^="Link to a note"]').click();
  await page.keyboard.type('Sync');
  await page.locator('.ck-mentions .ck-list__item', { hasText: 'Sync protocol notes' }).click();
  // And so does Trilium's shortcut, Ctrl+L.
  await page.keyboard.type('or');
  await page.keyboard.press('Control+l');
  await page.keyboard.type('WAL');
  await expect(page.locator('.ck-mentions .ck-list__item', { hasText: 'SQLite WAL' })).toBeVisible();
  await page.keyboard.press('Enter');
  expect(await getData(page)).toBe(
    '<p>See <a class="reference-link" href="#root/m9gtvVOms2f1">SQLite WAL</a> done and <a class="reference-link" href="#root/7DeOYqP5GqCv">Sync protocol notes</a> or <a class="reference-link" href="#root/m9gtvVOms2f1">SQLite WAL</a>&nbsp;</p>',
  );
  expect(watched.errors).toEqual([]);
});

test('a failing note search shows its reason and leaves the text as typed', async ({ page }) => {
  const watched = await openHarness(page);
  await page.evaluate(() => {
    (window as any).callbacks.searchNotes = async () => {
      throw new Error('session expired');
    };
  });
  const editable = await mountText(page, '<p>See</p>');
  await editable.click();
  await page.keyboard.press('End');
  await page.keyboard.type(' @Sync');
  await expect(page.locator('#host .canopy-text-notice')).toHaveText('Notes could not be searched: session expired');
  expect(await getData(page)).toBe('<p>See @Sync</p>');
  expect(watched.errors).toEqual([]);
});

test('clicking a reference link or an internal link calls openNote with the last note of the path', async ({ page }) => {
  const watched = await openHarness(page);
  const glossary = fixtureNotes().find((n) => n.noteId === manifest().roles.internalLinks.noteId)!;
  const editable = await mountText(page, `${glossary.content}<p><a href="#root/DxE3DMYxawXC">plain internal link</a> <a href="https://example.com/">external</a></p>`);
  await editable.locator('a.reference-link').first().click();
  await expect.poll(async () => (await calls(page)).open).toEqual(manifest().roles.internalLinks.targets.slice(0, 1));
  // Ctrl+click goes through CKEditor's link opener: still one call.
  await editable.locator('a', { hasText: 'plain internal link' }).click({ modifiers: ['Control'] });
  await expect.poll(async () => (await calls(page)).open).toEqual([manifest().roles.internalLinks.targets[0], 'DxE3DMYxawXC']);
  await page.waitForTimeout(200);
  expect((await calls(page)).open).toHaveLength(2);
  // An included note's box opens the included note.
  await page.evaluate(() => (window as any).handle.setData('<section class="include-note" data-note-id="B6FfWacXADgx" data-box-size="small">&nbsp;</section><p><a href="https://example.com/">external</a></p>'));
  await editable.locator('.canopy-include-note').click();
  await expect.poll(async () => (await calls(page)).open).toEqual([manifest().roles.internalLinks.targets[0], 'DxE3DMYxawXC', 'B6FfWacXADgx']);
  // An external link is not a note.
  await editable.locator('a', { hasText: 'external' }).click();
  await page.waitForTimeout(200);
  expect((await calls(page)).open).toHaveLength(3);
  expect((await calls(page)).change).toBe(0);
  expect(watched.errors).toEqual([]);
});

test('pasting an image calls uploadImage and inserts an <img> with the returned src', async ({ page }) => {
  const watched = await openHarness(page);
  const editable = await mountText(page, '<p>Picture: </p>');
  await editable.click();
  await page.keyboard.press('End');
  await pasteImage(page);
  await expect.poll(async () => (await calls(page)).upload).toEqual([{ name: 'pasted.png', type: 'image/png', size: PNG.length }]);
  await expect.poll(() => getData(page)).toContain('src="api/attachments/Up10adedAtt1/image/pasted.png"');
  await expect(editable.locator('img[src="api/attachments/Up10adedAtt1/image/pasted.png"]')).toBeVisible();
  expect((await calls(page)).change).toBeGreaterThan(0);

  // HTML copied from elsewhere with an inline (data:) image: the image is uploaded too.
  await page.evaluate((png) => {
    const data = new DataTransfer();
    data.setData('text/html', `<p>copied <img src="data:image/png;base64,${png}"></p>`);
    data.setData('text/plain', 'copied');
    const target = document.querySelector('#host .ck-editor__editable')!;
    target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, PNG.toString('base64'));
  await expect.poll(async () => (await calls(page)).upload.length).toBe(2);
  await expect.poll(() => getData(page)).not.toContain('data:image');
  expectAllLocal(watched);
  expect(watched.errors).toEqual([]);
});

test('a failed image upload shows its reason in the page, not a blocking alert, and adds nothing', async ({ page }) => {
  const watched = await openHarness(page);
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.evaluate(() => {
    (window as any).callbacks.uploadImage = async () => {
      throw new Error('the server is not reachable');
    };
  });
  const editable = await mountText(page, '<p>Picture: </p>');
  await editable.click();
  await pasteImage(page);
  await expect(page.locator('#host .canopy-text-notice')).toHaveText('The image was not added: the server is not reachable');
  await expect.poll(() => getData(page)).toBe('<p>Picture:</p>');
  expect(dialogs).toEqual([]);
  expect(watched.errors).toEqual([]);
});

test('note content cannot run scripts or load frames and media while edited, and keeps them', async ({ page }) => {
  const watched = await openHarness(page);
  const html = [
    '<p>a<img src="api/x.png" onerror="window.pwned=1" onload="window.pwned=2"></p>',
    '<script>window.pwned=3</script>',
    '<p><a href="javascript:window.pwned=4">script link</a></p>',
    '<p onclick="window.pwned=5">click me</p>',
    '<iframe srcdoc="<script>parent.pwned=6</script>"></iframe>',
    '<iframe src="https://example.com/"></iframe>',
    '<video src="https://example.com/v.mp4" autoplay></video>',
  ].join('');
  const editable = await mountText(page, html);
  await editable.locator('a', { hasText: 'script link' }).click();
  await editable.locator('p', { hasText: 'click me' }).click();
  await page.waitForTimeout(500);
  expect(await page.evaluate(() => (window as any).pwned)).toBeUndefined();
  const out = await getData(page);
  for (const kept of ['<iframe src="https://example.com/"></iframe>', '<video src="https://example.com/v.mp4" autoplay=""></video>', '<script>window.pwned=3</script>', 'onclick="window.pwned=5"']) {
    expect(out).toContain(kept);
  }
  expectAllLocal(watched);
  expect(watched.errors).toEqual([]);
});

test('a read-only text note cannot be edited and shows no toolbar', async ({ page }) => {
  const watched = await openHarness(page);
  const editable = await mountText(page, '<p>Fixed</p>', { readOnly: true });
  await expect(editable).toHaveAttribute('contenteditable', 'false');
  await expect(page.locator('#host .canopy-text-toolbar')).toBeHidden();
  expect(watched.errors).toEqual([]);
});

test('CodeMirror shows the fixture Python note with line numbers and highlighting, and follows the colour scheme', async ({ page }) => {
  const watched = await openHarness(page);
  const code = fixtureNotes().find((n) => n.noteId === manifest().roles.codeNote)!;
  expect(code.mime).toBe('text/x-python');
  await page.evaluate(async (text) => {
    const w = window as any;
    w.handle = await w.editors.mountCode(document.getElementById('host'), { text, mime: 'text/x-python', onChange: w.callbacks.onChange });
  }, code.content);
  const editor = page.locator('#host .cm-editor');
  // One number per line (a trailing newline starts a last, empty line); CodeMirror's hidden spacer aside.
  const lines = code.content.split('\n').length;
  await expect(editor.locator('.cm-lineNumbers .cm-gutterElement:not([style*="hidden"])')).toHaveText(
    Array.from({ length: lines }, (_, i) => String(i + 1)),
  );
  expect(await page.evaluate(() => (window as any).handle.getData())).toBe(code.content);

  // `def` is a keyword: coloured, unlike a plain name.
  const keyword = editor.locator('.cm-content span', { hasText: /^def$/ }).first();
  await expect(keyword).toBeVisible();
  const color = (selector: ReturnType<Page['locator']>) => selector.evaluate((el) => getComputedStyle(el).color);
  const base = await editor.locator('.cm-content').evaluate((el) => getComputedStyle(el).color);
  expect(await color(keyword)).not.toBe(base);
  expect(await editor.locator('.cm-scroller').evaluate((el) => getComputedStyle(el).fontFamily)).toMatch(/mono/i);

  await page.emulateMedia({ colorScheme: 'light' });
  const light = await editor.evaluate((el) => getComputedStyle(el).backgroundColor);
  await page.emulateMedia({ colorScheme: 'dark' });
  await expect.poll(() => editor.evaluate((el) => getComputedStyle(el).backgroundColor)).not.toBe(light);
  await page.emulateMedia({ colorScheme: 'light' });

  // No change on mount or setData; a change on typing.
  await page.waitForTimeout(200);
  expect((await calls(page)).change).toBe(0);
  await page.evaluate(() => (window as any).handle.setData('print("loaded")\n'));
  expect((await calls(page)).change).toBe(0);
  await editor.locator('.cm-content').click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('x = 1');
  await expect.poll(async () => (await calls(page)).change).toBeGreaterThan(0);
  await page.keyboard.press('Enter');
  await page.keyboard.press('Tab');
  await page.keyboard.type('y');
  expect(await page.evaluate(() => (window as any).handle.getData())).toBe('print("loaded")\nx = 1\n    y');
  // Bracket matching and search.
  await page.keyboard.press('Control+Home');
  await page.keyboard.press('End');
  await expect(editor.locator('.cm-matchingBracket')).toHaveCount(2);
  await page.keyboard.press('Control+f');
  await expect(editor.locator('.cm-search input[name="search"]')).toBeFocused();
  await page.keyboard.press('Escape');

  // Every language of the picker loads its highlighting without an error.
  const mimes: string[] = await page.evaluate(() => (window as any).editors.codeLanguages().map((l: { mime: string }) => l.mime));
  for (const mime of mimes) await page.evaluate((mime) => (window as any).handle.setMime(mime), mime);
  expectAllLocal(watched);
  expect(watched.errors).toEqual([]);
});
