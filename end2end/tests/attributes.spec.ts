// The attribute panel under the note title: labels and relations added (detail editor and Trilium's
// text syntax), edited, removed; inherited ones shown apart; bad names refused with a message.
import { expect, test, type Page } from '@playwright/test';
import { base, login } from './helpers';

function treeItem(page: Page, title: string) {
  return page.locator('li.tree-item', { has: page.locator(':scope > .tree-row .note-link', { hasText: title }) });
}

/** Opens the note from the tree and waits for its attribute panel; returns its note id. */
async function openNote(page: Page, title: string): Promise<string> {
  const link = page.locator('nav.tree .note-link', { hasText: title }).first();
  const noteId = new URL((await link.getAttribute('href'))!, base()).searchParams.get('note')!;
  await link.click();
  await expect(page.locator('article.note')).toHaveAttribute('data-note-id', noteId);
  await expect(page.locator('article.note section.attributes .attr-text')).toBeVisible();
  return noteId;
}

function chip(page: Page, name: string) {
  return page.locator('section.attributes .attr-owned .attr-chip', { has: page.locator(`.attr-name`, { hasText: new RegExp(`^${name}$`) }) });
}

test('labels and relations are added, edited and removed; inherited ones show apart', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

  await login(page);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  const welcomeId = await openNote(page, 'Welcome to Canopy');
  const panel = page.locator('section.attributes');

  // A label through the detail editor.
  await panel.locator('.attr-new').click();
  const editor = panel.locator('form.attr-editor');
  await editor.locator('.attr-name-input').fill('status');
  await editor.locator('.attr-value-input').fill('draft');
  await editor.getByRole('button', { name: 'Save' }).click();
  await expect(editor).toBeHidden();
  await expect(chip(page, 'status')).toContainText('status=draft');
  await expect(chip(page, 'status')).toHaveClass(/label/);

  // An inheritable label in Trilium's text syntax.
  await panel.locator('.attr-text').fill('#area(inheritable)="user docs"');
  await panel.locator('.attr-text-form').getByRole('button', { name: 'Add' }).click();
  await expect(chip(page, 'area')).toContainText('area=user docs');
  await expect(chip(page, 'area').locator('.attr-inheritable')).toBeVisible();
  await expect(panel.locator('.attr-text')).toHaveValue('');

  // A relation whose target is picked by title.
  await panel.locator('.attr-new').click();
  await editor.getByLabel('Relation').check();
  await editor.locator('.attr-name-input').fill('seeAlso');
  await editor.locator('.attr-target-input').fill('inbo');
  await editor.locator('.attr-hit', { hasText: 'Inbox' }).click();
  await expect(editor.locator('.attr-chosen')).toContainText('Inbox');
  await editor.getByRole('button', { name: 'Save' }).click();
  await expect(chip(page, 'seeAlso')).toHaveClass(/relation/);
  await expect(chip(page, 'seeAlso').locator('a.attr-target')).toHaveText('Inbox');

  // A relation typed in the text syntax, its target picked by title in place of `@part`.
  await panel.locator('.attr-text').pressSequentially('~madeBy=@inbo');
  await panel.locator('.attr-text-hits .attr-hit', { hasText: 'Inbox' }).click();
  await expect(panel.locator('.attr-text')).toHaveValue(/^~madeBy=@[A-Za-z0-9_]+ $/);
  await panel.locator('.attr-text-form').getByRole('button', { name: 'Add' }).click();
  await expect(chip(page, 'madeBy').locator('a.attr-target')).toHaveText('Inbox');

  // Edit: a new value and inheritable.
  await chip(page, 'status').locator('.attr-chip-main').click();
  await expect(editor.locator('.attr-name-input')).toHaveValue('status');
  await editor.locator('.attr-value-input').fill('final');
  await editor.locator('.attr-inheritable-input').check();
  await editor.getByRole('button', { name: 'Save' }).click();
  await expect(chip(page, 'status')).toContainText('status=final');
  await expect(chip(page, 'status').locator('.attr-inheritable')).toBeVisible();

  // Remove.
  await chip(page, 'status').locator('.attr-chip-main').click();
  await editor.getByRole('button', { name: 'Delete' }).click();
  await expect(chip(page, 'status')).toHaveCount(0);

  // A bad name: a clear message, nothing added.
  await panel.locator('.attr-text').fill('#fine=1 #bad-name');
  await panel.locator('.attr-text-form').getByRole('button', { name: 'Add' }).click();
  await expect(panel.locator('.attr-error')).toContainText('bad-name');
  await expect(chip(page, 'fine')).toHaveCount(0);
  await panel.locator('.attr-new').click();
  await editor.locator('.attr-name-input').fill('two words');
  await editor.getByRole('button', { name: 'Save' }).click();
  await expect(panel.locator('.attr-error')).toContainText('alphanumeric');
  await expect(editor).toBeVisible();
  await editor.getByRole('button', { name: 'Cancel' }).click();
  await expect(panel.locator('.attr-error')).toHaveCount(0);
  await expect(panel.locator('.attr-owned .attr-chip')).toHaveCount(3);

  // The child inherits #area, shown apart with the note it comes from.
  // Expansion is remembered per branch, so another test may have left it open.
  const toggle = treeItem(page, 'Welcome to Canopy').locator(':scope > .tree-row .toggle');
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await openNote(page, 'Getting started');
  await expect(panel.locator('.attr-owned .attr-chip')).toHaveCount(0);
  const inherited = panel.locator('.attr-inherited .attr-chip.inherited', { hasText: 'area' });
  await expect(inherited).toContainText('area=user docs');
  await expect(inherited.locator('.attr-from')).toHaveText('from Welcome to Canopy');
  await inherited.locator('.attr-from a').click();
  await expect(page.locator('article.note')).toHaveAttribute('data-note-id', welcomeId);

  // All of it was stored: a reload shows the same.
  await page.reload();
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await expect(chip(page, 'area')).toContainText('area=user docs');
  await expect(chip(page, 'seeAlso').locator('a.attr-target')).toHaveText('Inbox');
  await expect(chip(page, 'status')).toHaveCount(0);

  // The two refusals answered 400, which Chromium logs as a failed resource; nothing else went wrong.
  const refused = 'Failed to load resource: the server responded with a status of 400 (Bad Request)';
  expect(errors.filter((e) => e !== refused)).toEqual([]);
  expect(errors.filter((e) => e === refused)).toHaveLength(2);
});
