// The note pane on a real instance serving a copy of the real Trilium 0.63.7 fixture document: the
// editors mounted after hydration, autosave, saves over changes made elsewhere, the title, code notes, pasted images.
import { expect, test, type Page } from '@playwright/test';
import { expectClean, fixtureNoteId as noteId, loginAt, manifest, startFixtureInstance, watch, type Instance } from './helpers';

let instance: Instance;
let base: string;

/** A second instance (the suite's own starts with a new document) on a copy of the fixture. */
test.beforeAll(async () => {
  instance = await startFixtureInstance('note');
  base = instance.base;
});

test.afterAll(async () => instance?.stop());

// Logged in with the fixture's password: the session cookie then serves the page and `page.request`.
test.beforeEach(async ({ page }) => loginAt(page, base, manifest.password));

/** The CSRF token of the page's session, for calls made beside the page. */
async function csrf(page: Page): Promise<Record<string, string>> {
  const token = await page.locator('meta[name=csrf-token]').getAttribute('content');
  expect(token).toBeTruthy();
  return { 'X-CSRF-Token': token! };
}

/** Opens a note and waits until its editor has replaced the server-rendered view. */
async function openNote(page: Page, id: string) {
  await page.goto(`${base}/?note=${id}`);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('.note-body.editing')).toBeVisible();
}

/** Records every save state the page shows, in order. */
async function recordStates(page: Page) {
  await page.evaluate(() => {
    const status = document.querySelector('.save-status')!;
    const states: string[] = [];
    (window as any).__states = states;
    new MutationObserver(() => states.push(status.getAttribute('data-state')!)).observe(status, { attributes: true });
  });
}

/** What the server stores for a note, through the same call the editor uses. */
async function storedContent(page: Page, id: string): Promise<{ content: string; blob_id: string }> {
  const response = await page.request.post(`${base}/ui/note_source`, { form: { note_id: id }, headers: await csrf(page) });
  expect(response.status()).toBe(200);
  return response.json();
}

const status = (page: Page) => page.locator('.save-status');

test('a fixture note with a table and reference links is edited, saved, reloaded and intact', async ({ page }) => {
  const watched = watch(page);
  const id = noteId('Glossary');
  const before = await storedContent(page, id);
  await openNote(page, id);
  // Breadcrumbs: the note's path, each crumb a link.
  await expect(page.locator('.breadcrumbs a')).toHaveText(['root', 'Fixture Notebook', 'Engineering']);
  await expect(page.locator('.breadcrumbs a').nth(2)).toHaveAttribute('href', `/?note=${noteId('Engineering')}`);

  // Opened and not changed: nothing is written.
  await page.waitForTimeout(1500);
  expect((await storedContent(page, id)).blob_id).toBe(before.blob_id);
  await expect(status(page)).toHaveAttribute('data-state', 'clean');

  await recordStates(page);
  const editable = page.locator('.ck-editor__editable_inline');
  await editable.locator('p', { hasText: 'Entry C8' }).click();
  await page.keyboard.press('End');
  await page.keyboard.type(' Edited in Canopy.');
  await expect(status(page)).toHaveText('saved', { timeout: 10_000 });
  const states: string[] = await page.evaluate(() => (window as any).__states);
  expect(states.indexOf('saving')).toBeGreaterThan(-1);
  expect(states.lastIndexOf('saved')).toBeGreaterThan(states.indexOf('saving'));

  const after = await storedContent(page, id);
  expect(after.content).toContain('Edited in Canopy.');
  expect(after.content).toContain('<figure class="table"><table>');
  expect(after.content).toContain('<td>Glossary</td>');
  for (const target of manifest.roles.internalLinks.targets) {
    expect(after.content).toContain(`class="reference-link" href="#root/DxE3DMYxawXC/v9ZIzkSBYQOW/${target}"`);
  }

  // Reloaded: the server-rendered view and the editor both show every construct.
  await page.reload();
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('.note-body.editing')).toBeVisible();
  await expect(editable).toContainText('Edited in Canopy.');
  await expect(editable.locator('figure.table table td', { hasText: 'Station' })).toBeVisible();
  await expect(editable.locator('a.reference-link')).toHaveCount(2);

  // A code block keeps its language through an edit of another note.
  const sauerkraut = noteId('Sauerkraut');
  await openNote(page, sauerkraut);
  await page.locator('.ck-editor__editable_inline p', { hasText: 'Entry A3' }).click();
  await page.keyboard.press('End');
  await page.keyboard.type(' More.');
  await expect(status(page)).toHaveText('saved', { timeout: 10_000 });
  const code = await storedContent(page, sauerkraut);
  expect(code.content).toContain('More.');
  expect(code.content).toContain('<pre><code class="language-text-x-python">def checksum(rows):');
  expectClean(watched);
});

test('clicking a reference link opens that note in the page', async ({ page }) => {
  const watched = watch(page);
  await openNote(page, noteId('Glossary'));
  await page.evaluate(() => ((window as any).__sameDocument = true));
  await page.locator('.ck-editor__editable_inline a.reference-link', { hasText: 'Sync protocol notes' }).click();
  await expect(page).toHaveURL(new RegExp(`\\?note=${noteId('Sync protocol notes')}$`));
  await expect(page.locator('.note-title')).toHaveValue('Sync protocol notes');
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  expectClean(watched);
});

test('the title is edited in place; an empty title is refused and kept', async ({ page }) => {
  const watched = watch(page);
  const id = noteId('Tarte Tatin');
  await openNote(page, id);
  const title = page.locator('.note-title');
  await title.fill('');
  await title.press('Enter');
  await expect(page.locator('.title-error')).toHaveText('The title must not be empty.');
  await title.fill('Tarte Tatin (caramel)');
  await title.press('Enter');
  await expect(page.locator('.title-error')).toHaveCount(0);
  await page.reload();
  await expect(title).toHaveValue('Tarte Tatin (caramel)');
  expectClean(watched);
});

test('a code note shows line numbers and colours, saves edits, and changes language', async ({ page }) => {
  const watched = watch(page);
  const id = manifest.roles.codeNote;
  await openNote(page, id);
  await expect(page.locator('.cm-editor .cm-lineNumbers')).toBeVisible();
  await expect(page.locator('.cm-editor .cm-gutterElement', { hasText: /^3$/ })).toBeVisible();
  // Python highlighting: keywords get their own spans.
  await expect.poll(() => page.locator('.cm-content .cm-line span').count()).toBeGreaterThan(3);
  const family = await page.locator('.cm-content').evaluate((el) => getComputedStyle(el).fontFamily);
  expect(family).toMatch(/mono/i);

  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('\n# edited in Canopy');
  await expect(status(page)).toHaveText('saved', { timeout: 10_000 });
  expect((await storedContent(page, id)).content).toMatch(/\n# edited in Canopy$/);

  const language = page.locator('.note-language select');
  await expect(language.locator('option[value="text/x-rustsrc"]')).toHaveCount(1);
  await language.selectOption('text/x-rustsrc');
  await expect.poll(async () => {
    const response = await page.request.post(`${base}/ui/note`, { form: { note_id: id }, headers: await csrf(page) });
    return (await response.json()).mime;
  }).toBe('text/x-rustsrc');
  await page.reload();
  await expect(page.locator('.note-language select')).toHaveValue('text/x-rustsrc');
  expectClean(watched);
});

test('a save over a change made elsewhere keeps both, even when the live channel did not say so', async ({ page }) => {
  const watched = watch(page);
  const id = noteId('Miso soup');
  // Without the channel the page cannot know of the other change before it saves.
  await page.route('**/api/ui/events', (route) => route.abort());
  await openNote(page, id);
  // Another tab (or another instance through sync) changes the note after this page loaded it.
  const current = await storedContent(page, id);
  const other = await page.request.post(`${base}/ui/save_note`, {
    form: { note_id: id, content: '<p>changed elsewhere</p>', expected_blob_id: current.blob_id },
    headers: await csrf(page),
  });
  expect(other.status()).toBe(200);

  await page.locator('.ck-editor__editable_inline p').last().click();
  await page.keyboard.press('End');
  await page.keyboard.type(' typed here');
  // The newer text (typed here) wins; the other version goes to the note's revisions, as sync does.
  await expect(status(page)).toHaveAttribute('data-state', 'saved', { timeout: 10_000 });
  await expect(page.locator('.changed-elsewhere')).toContainText("kept in the note's revisions");
  await expect(page.locator('.ck-editor__editable_inline')).toContainText('typed here');
  const stored = (await storedContent(page, id)).content;
  expect(stored).toContain('typed here');
  expect(stored).not.toContain('changed elsewhere');
  // The first try is refused with 409 (then saved keeping both); the blocked channel fails to load.
  expectClean({ ...watched, errors: watched.errors.filter((e) => !e.includes('409') && !e.includes('ERR_FAILED')) });
});

/** A 1×1 PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

test('a pasted image is stored as an attachment of the note and shown', async ({ page }) => {
  const watched = watch(page);
  const id = noteId('Kraków');
  await openNote(page, id);
  await page.locator('.ck-editor__editable_inline p').last().click();
  await page.evaluate((base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const data = new DataTransfer();
    data.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
    document
      .querySelector('.ck-editor__editable_inline')!
      .dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, PNG);
  const image = page.locator('.ck-editor__editable_inline img[src^="api/attachments/"]');
  await expect(image).toBeVisible({ timeout: 10_000 });
  await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(1);
  await expect(status(page)).toHaveText('saved', { timeout: 10_000 });
  const stored = await storedContent(page, id);
  const src = /<img[^>]* src="(api\/attachments\/[^"]+\/image\/pasted\.png)"/.exec(stored.content)?.[1];
  expect(src, stored.content).toBeTruthy();
  const served = await page.request.get(`${base}/${src}`);
  expect(served.status()).toBe(200);
  expect(served.headers()['content-type']).toBe('image/png');
  expect(Buffer.from(await served.body()).equals(Buffer.from(PNG, 'base64'))).toBe(true);

  // After a reload the server-rendered view shows it too (before the editor takes over).
  await page.reload();
  await expect(page.locator('.read-view img[src^="api/attachments/"]')).toHaveCount(1);
  await expect(page.locator('.note-body.editing')).toBeVisible();
  await expect(page.locator('.ck-editor__editable_inline img[src^="api/attachments/"]')).toBeVisible();
  expectClean(watched);
});

test('leaving a note saves it at once, and closing the tab with unsaved changes warns', async ({ page }) => {
  const watched = watch(page);
  const id = noteId('Lisbon');
  await openNote(page, id);
  await page.locator('.ck-editor__editable_inline p').last().click();
  await page.keyboard.press('End');
  await page.keyboard.type(' left at once');
  // Before the autosave delay runs out, open another note through a breadcrumb (client-side navigation).
  await page.locator('.breadcrumbs a', { hasText: 'Travel Journal' }).click();
  await expect(page.locator('.note-title')).toHaveValue('Travel Journal');
  await expect.poll(async () => (await storedContent(page, id)).content, { timeout: 10_000 }).toContain('left at once');

  // An edit not yet saved when the tab closes: the browser asks first.
  await openNote(page, noteId('Oaxaca'));
  // The save never answers, so the edit is still unsaved when the tab closes.
  await page.route('**/ui/save_note', () => {});
  await page.locator('.ck-editor__editable_inline p').last().click();
  await page.keyboard.type(' unsaved');
  const dialog = new Promise<string>((done) => page.once('dialog', (d) => { done(d.type()); void d.accept(); }));
  await page.close({ runBeforeUnload: true });
  expect(await dialog).toBe('beforeunload');
  expectClean(watched);
});

test('a save that fails keeps the text and is retried; an expired session says so', async ({ page }) => {
  const watched = watch(page);
  const id = noteId('Tromsø');
  await openNote(page, id);
  let refusals = 0;
  await page.route('**/ui/save_note', (route) => {
    refusals += 1;
    return refusals === 1 ? route.abort('connectionrefused') : route.fulfill({ status: 401, contentType: 'application/json', body: '"NotAuthenticated"' });
  });
  await page.locator('.ck-editor__editable_inline p').last().click();
  await page.keyboard.press('End');
  await page.keyboard.type(' despite the outage');
  await expect(status(page)).toContainText('not saved: Could not reach the server', { timeout: 10_000 });
  await expect(status(page)).toContainText('session has expired', { timeout: 10_000 });
  await expect(page.locator('.ck-editor__editable_inline')).toContainText('despite the outage');
  // The server is back and the session too: the retry saves what was typed.
  await page.unroute('**/ui/save_note');
  await expect(status(page)).toHaveText('saved', { timeout: 15_000 });
  expect((await storedContent(page, id)).content).toContain('despite the outage');
  // The refused calls are the browser's own console lines, not page errors.
  expectClean({ ...watched, errors: watched.errors.filter((e) => !/401|ERR_CONNECTION_REFUSED|Failed to fetch/.test(e)) });
});

test('typing @ finds a note by title on the server and inserts a reference link', async ({ page }) => {
  const watched = watch(page);
  const id = noteId('Benchmarks');
  await openNote(page, id);
  await page.locator('.ck-editor__editable_inline p', { hasText: 'Entry C6' }).click();
  await page.keyboard.press('End');
  await page.keyboard.type(' @SQLite');
  const item = page.locator('.ck-mentions .ck-list__item', { hasText: 'SQLite WAL' });
  await expect(item).toBeVisible();
  await expect(item).toContainText('Fixture Notebook / Engineering');
  await page.keyboard.press('Enter');
  await expect(status(page)).toHaveText('saved', { timeout: 10_000 });
  expect((await storedContent(page, id)).content).toContain(`<a class="reference-link" href="#root/${noteId('SQLite WAL')}">SQLite WAL</a>`);
  expectClean(watched);
});
