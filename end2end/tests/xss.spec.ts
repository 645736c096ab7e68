// Payloads in a note's title, body and a revision never run anywhere the page shows them: the tree,
// the note (title, body, breadcrumbs), the revisions list, preview and diff, and Recent changes. Each
// payload sets `window.__xss` or opens a dialog; the test asserts neither happens.
import { expect, test, type Page } from '@playwright/test';
import { login } from './helpers';
import { createNote, open, setContent, setTitle, takeRevision, watchErrors } from './history-helpers';

const TITLE = `<img src=x onerror="window.__xss='title-img'"><script>window.__xss='title-script'</script>Evil "title"`;
const BODY = [
  '<p>Innocent paragraph with <b>bold</b>.</p>',
  `<script>window.__xss='body-script'</script>`,
  `<img src="x" onerror="window.__xss='body-img'">`,
  `<p><a href="javascript:window.__xss='body-link'">a javascript: link</a></p>`,
  `<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss='svg-onload'"><script>window.__xss='svg-script'</script></svg>`,
  `<iframe src="javascript:alert('iframe')"></iframe>`,
  `<p onclick="window.__xss='onclick'" style="background:url(javascript:alert(1))">click here</p>`,
  `<math><mtext><table><mglyph><style><img src=x onerror="window.__xss='mxss'"></style></mglyph></table></mtext></math>`,
].join('');
// Differs from the body in its words too, so the diff has runs to show: among them markup as text,
// which the diff must show as text, never parse.
const REVISION_BODY =
  BODY.replaceAll('body-', 'revision-').replace('Innocent paragraph', 'Older paragraph') +
  `<p>&lt;img src=x onerror="window.__xss='diff-text'"&gt; &lt;script&gt;window.__xss='diff-script'&lt;/script&gt;</p>`;

/** Collects dialogs (dismissing them) so that a payload's `alert` is seen and does not block the page. */
function watchDialogs(page: Page): string[] {
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return dialogs;
}

async function expectNothingRan(page: Page, where: string) {
  // Long enough for a broken image's onerror and an SVG's onload to fire.
  await page.waitForTimeout(400);
  expect(await page.evaluate(() => (window as any).__xss), where).toBeUndefined();
}

test('XSS payloads in a title, a body and a revision never run', async ({ page }) => {
  test.setTimeout(90_000);
  const dialogs = watchDialogs(page);
  const errors = watchErrors(page);
  await login(page);
  const parent = await createNote(page.request, 'root', TITLE, REVISION_BODY);
  await takeRevision(page.request, parent.noteId);
  await setContent(page.request, parent.noteId, BODY);
  const child = await createNote(page.request, parent.noteId, `child of ${TITLE}`, '<p>child</p>');

  // The tree row, the breadcrumbs (the parent's title), the child's title.
  await open(page, `/?note=${child.noteId}`);
  await expect(page.locator('article.note .breadcrumbs')).toContainText('Evil "title"');
  await expect(page.locator('nav.tree .note-link', { hasText: 'Evil "title"' }).first()).toBeVisible();
  await expectNothingRan(page, 'tree and breadcrumbs');

  // The note itself: title field and body (server-rendered view, then the editor).
  await open(page, `/?note=${parent.noteId}`);
  await expect(page.locator('article.note .note-title')).toHaveValue(TITLE);
  await expect(page.locator('article.note .note-body')).toContainText('Innocent paragraph');
  await expectNothingRan(page, 'note view');
  const hrefs = await page.locator('article.note .note-body a').evaluateAll((links) => links.map((a) => a.getAttribute('href') ?? ''));
  for (const href of hrefs) expect(href).not.toMatch(/^\s*javascript:/i);

  // Revisions: list (the title at that time), diff, preview.
  await page.locator('article.note .revisions-button').click();
  const panel = page.locator('section.revisions');
  await expect(panel.locator('.revision-entry .revision-title').first()).toHaveText(TITLE);
  await expect(panel.locator('.revision-diff')).toBeVisible();
  await expect(panel.locator('.revision-diff del').last()).toContainText(`<img src=x onerror="window.__xss='diff-text'">`);
  expect(await panel.locator('.revision-diff img, .revision-diff script').count()).toBe(0);
  await expectNothingRan(page, 'revision diff');
  await panel.getByRole('button', { name: 'Preview' }).click();
  const preview = panel.locator('.revision-preview');
  await expect(preview).toContainText('Older paragraph');
  expect(await preview.locator('script, iframe, svg script, [onerror], [onload], [onclick]').count()).toBe(0);
  const previewLink = preview.locator('a', { hasText: 'a javascript: link' });
  if (await previewLink.count()) {
    expect(await previewLink.getAttribute('href')).toBeNull();
    await previewLink.click();
  }
  await expectNothingRan(page, 'revision preview');

  // A second revision whose title is a payload too, then Recent changes lists both titles.
  await takeRevision(page.request, parent.noteId);
  await setTitle(page.request, parent.noteId, `renamed ${TITLE}`);
  await open(page, '/recent-changes');
  await expect(page.locator('.recent-changes .change-title', { hasText: 'Evil "title"' }).first()).toBeVisible();
  await expectNothingRan(page, 'recent changes');
  // The page's own markup is intact: no element came from a title.
  expect(await page.locator('.recent-changes img, .recent-changes script, nav.tree img[src="x"]').count()).toBe(0);

  expect(dialogs).toEqual([]);
  expect(errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);

  // The detector works: the same body put into the page unsanitized does set the flag.
  await page.evaluate((html) => {
    const box = document.createElement('div');
    box.innerHTML = html;
    document.body.append(box);
  }, BODY);
  await expect.poll(() => page.evaluate(() => (window as any).__xss)).toBe('body-img');
});
