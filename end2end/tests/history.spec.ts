// Revisions and Recent changes on a real instance in Chromium: the diff of a revision against the
// note's text (and the README screenshot of it), restore keeping the replaced text as a revision,
// preview, download and delete; a deleted subtree undeleted from Recent changes coming back in the tree.
import { expect, test } from '@playwright/test';
import { login } from './helpers';
import { createNote, open, serverFn, setContent, takeRevision, watchErrors } from './history-helpers';

test.beforeEach(async ({ page }) => {
  await login(page);
});

test('the diff shows words added and removed; restore keeps the replaced text as a revision', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  const errors = watchErrors(page);
  const title = `Garden plan ${Date.now().toString(36)}`;
  const older = '<p>Plant tomatoes and basil along the south fence.</p><p>Water every <strong>morning</strong>.</p>';
  const newer = '<p>Plant peppers and basil along the west fence, then mulch.</p><p>Water every <strong>morning</strong>.</p>';
  const { noteId } = await createNote(page.request, 'root', title, older);
  await takeRevision(page.request, noteId);
  await setContent(page.request, noteId, newer);

  await open(page, `/?note=${noteId}`);
  await page.locator('article.note .revisions-button').click();
  await expect(page).toHaveURL(/revision=/);
  const panel = page.locator('section.revisions');
  await expect(panel.locator('.revision-entry')).toHaveCount(1);
  const entry = panel.locator('.revision-entry').first();
  await expect(entry).toHaveClass(/selected/);
  await expect(entry.locator('.revision-title')).toHaveText(title);
  await expect(entry.locator('.revision-relative')).toHaveText('just now');
  await expect(entry.locator('.revision-instance')).toHaveText('this instance');
  await expect(entry.locator('.revision-size')).toHaveText(/\d+ B/);

  const diff = panel.locator('.revision-diff');
  await expect(diff).toContainText('Water every morning.');
  const removed = (await diff.locator('del').allTextContents()).join(' ');
  const added = (await diff.locator('ins').allTextContents()).join(' ');
  for (const word of ['tomatoes', 'south']) expect(removed).toContain(word);
  for (const word of ['peppers', 'west', 'mulch']) expect(added).toContain(word);
  expect(removed + added).not.toMatch(/basil|<p>|strong/);
  await page.mouse.move(1200, 780);
  await page.screenshot({ path: 'screenshots/revision-diff.png' });

  await panel.getByRole('button', { name: 'Preview' }).click();
  await expect(panel.locator('.revision-preview')).toContainText('Plant tomatoes and basil');
  await expect(panel.locator('.revision-preview strong')).toHaveText('morning');

  // Restore: the note shows the old text; the text it replaced is now the newest revision.
  await panel.locator('.restore-revision').click();
  // The editor takes the restored text in place (the live pane), without a reload.
  const editor = page.locator('article.note .ck-editor__editable_inline');
  await expect(editor).toContainText('tomatoes');
  await expect(editor).not.toContainText('peppers');
  await expect(page.locator('section.revisions .revision-entry')).toHaveCount(2);
  const newest = page.locator('section.revisions .revision-entry').first();
  await newest.locator('a').click();
  await expect(newest).toHaveClass(/selected/);
  const replaced = page.locator('section.revisions .revision-diff del');
  await expect(replaced.first()).toBeVisible();
  expect((await replaced.allTextContents()).join(' ')).toContain('peppers');
  const source = await serverFn(page, 'note_source', { note_id: noteId });
  expect(source.content).toBe(older);

  // Download: the revision's content as an .html file named after the title and the revision's time.
  const downloading = page.waitForEvent('download');
  await page.locator('section.revisions .download-revision').click();
  const download = await downloading;
  expect(download.suggestedFilename()).toMatch(new RegExp(`^${title}-\\d{8}_\\d{6}\\.html$`));

  // Delete (confirmed): one left.
  page.once('dialog', (dialog) => {
    expect(dialog.type()).toBe('confirm');
    void dialog.accept();
  });
  await page.locator('section.revisions .delete-revision').click();
  await expect(page.locator('section.revisions .revision-entry')).toHaveCount(1);

  // Closing the panel drops `revision=` from the URL.
  await page.locator('section.revisions .revisions-bar a').click();
  await expect(page.locator('section.revisions')).toHaveCount(0);
  await expect(page).toHaveURL(new RegExp(`/\\?note=${noteId}$`));
  expect(errors).toEqual([]);
});

// A page loaded directly on a revision (`/?note=<id>&revision=<id>`) hydrates the panel's server render.
test('a code note diff keeps its lines; the URL opens the panel on a revision', async ({ page }) => {
  const errors = watchErrors(page);
  const { noteId } = await createNote(page.request, 'root', `script ${Date.now().toString(36)}`, 'let a = 1;\nold_call(a);\n', 'code');
  await takeRevision(page.request, noteId);
  await setContent(page.request, noteId, 'let a = 1;\nnew_call(a);\nmore();\n');
  const [revision] = await serverFn(page, 'revisions', { note_id: noteId });
  await open(page, `/?note=${noteId}&revision=${revision.revision_id}`);
  const diff = page.locator('section.revisions .revision-diff.code');
  await expect(diff).toBeVisible();
  await expect(diff.locator('del')).toContainText(['old_call(a);']);
  expect((await diff.locator('ins').allTextContents()).join('')).toContain('more();');
  expect(await diff.evaluate((el) => getComputedStyle(el).whiteSpace)).toBe('pre-wrap');
  expect(errors).toEqual([]);
});

test('an open revisions list shows a revision written elsewhere by itself', async ({ page }) => {
  const errors = watchErrors(page);
  const { noteId } = await createNote(page.request, 'root', `Live list ${Date.now().toString(36)}`, '<p>first</p>');
  await takeRevision(page.request, noteId);
  await open(page, `/?note=${noteId}&revision=latest`);
  const entries = page.locator('section.revisions .revision-entry');
  await expect(entries).toHaveCount(1);
  await expect(page.locator('.live-status')).toHaveAttribute('data-state', 'online');
  // ETAPI writes a revision of the new text: the list grows without a reload.
  await setContent(page.request, noteId, '<p>second</p>');
  await takeRevision(page.request, noteId);
  await expect(entries).toHaveCount(2, { timeout: 3000 });
  await expect(page.locator('section.revisions .revision-diff, section.revisions .revision-same')).toBeVisible();
  expect(errors).toEqual([]);
});

test('a deleted subtree is undeleted from Recent changes and appears in the tree', async ({ page }) => {
  const errors = watchErrors(page);
  const stamp = Date.now().toString(36);
  const trip = await createNote(page.request, 'root', `Trip ${stamp}`, '<p>Itinerary</p>');
  const packing = await createNote(page.request, trip.noteId, `Packing ${stamp}`, '<p>Boots</p>');
  const boots = await createNote(page.request, packing.noteId, `Boots ${stamp}`, '<p>Waxed</p>');
  await open(page, '/');
  await serverFn(page, 'tree/delete', { branch_id: trip.branchId });

  await page.locator('.pane-bar .recent-changes-button').click();
  await expect(page).toHaveURL(/\/recent-changes$/);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('nav.tree')).not.toContainText(`Trip ${stamp}`);
  const deletedTrip = page.locator(`.change[data-kind="deleted"][data-note-id="${trip.noteId}"]`);
  await expect(deletedTrip.locator('.change-title.deleted')).toHaveText(`Trip ${stamp}`);
  // The child was deleted with it: undeleting it alone is refused, it says why.
  await expect(page.locator(`.change[data-kind="deleted"][data-note-id="${packing.noteId}"] .cannot-undelete`)).toBeVisible();
  await expect(page.locator(`.change[data-kind="deleted"][data-note-id="${packing.noteId}"] .undelete`)).toHaveCount(0);
  await expect(page.locator('.change-day h2').first()).toHaveText(/^\d{4}-\d{2}-\d{2}$/);

  await deletedTrip.locator('.undelete').click();
  await expect(page.locator('.recent-changes > .notice')).toContainText(`Trip ${stamp}`);
  await expect(page.locator('nav.tree .note-link', { hasText: `Trip ${stamp}` })).toBeVisible();
  await expect(page.locator(`.change[data-kind="deleted"][data-note-id="${trip.noteId}"] .undelete`)).toHaveCount(0);
  const under = await serverFn(page, 'children', { parent_note_id: packing.noteId });
  expect(under.map((c: any) => c.note_id)).toEqual([boots.noteId]);

  // Each entry links to its note.
  await page.locator(`.change[data-kind="created"][data-note-id="${boots.noteId}"] a.change-title`).click();
  await expect(page).toHaveURL(new RegExp(`/\\?note=${boots.noteId}$`));
  await expect(page.locator('article.note .note-title')).toHaveValue(`Boots ${stamp}`);
  expect(errors).toEqual([]);
});
