// Search in Chromium on an instance holding a copy of the Trilium fixture: the quick-search box finds a
// word from a note's body while typing and shows it in the snippet, arrows and Enter open it; the search
// page with Trilium's search language; saving a search as a search note that lists its results; Ctrl+J;
// and titles and bodies carrying script that never runs in any result list.
import { expect, test, type Page } from '@playwright/test';
import { fixtureNoteId, loginAt, manifest, startFixtureInstance, type Instance } from './helpers';

let instance: Instance;

test.beforeAll(async () => {
  instance = await startFixtureInstance('search', '[General]\nnoBackup=true\n');
  await instance.waitForLog(/search index: (built \S+ of \S+ notes in|current at)/, 30_000);
});

test.afterAll(async () => {
  await instance?.stop();
});

test.beforeEach(async ({ page }) => {
  await loginAt(page, instance.base, manifest.password);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
});

const box = (page: Page) => page.locator('.quick-search-input');

test('typing a word from a body shows the note with the word in its snippet; arrows and Enter open it', async ({ page }) => {
  const pancakes = fixtureNoteId('Pancakes');
  // Typed as a person types; the results come while typing, before any Enter.
  await box(page).pressSequentially('flour', { delay: 60 });
  const hit = page.locator(`.quick-texts .search-hit[data-note-id="${pancakes}"]`);
  await expect(hit).toBeVisible();
  await expect(hit.locator('.hit-title')).toHaveText('Pancakes');
  await expect(hit.locator('.hit-snippet mark').first()).toHaveText(/^flour$/i);
  await expect(hit.locator('.hit-path')).toContainText('Recipes');

  for (let i = 0; i < 20; i++) {
    if (await hit.getAttribute('aria-selected') === 'true') break;
    await box(page).press('ArrowDown');
  }
  await expect(hit).toHaveAttribute('aria-selected', 'true');
  await box(page).press('Enter');
  await expect(page).toHaveURL(`${instance.base}/?note=${pancakes}`);
  await expect(page.locator('.note-title')).toHaveValue('Pancakes');
  await expect(page.locator('.quick-results')).toHaveCount(0);

  // Titles come first; Escape closes the list.
  await box(page).fill('');
  await box(page).pressSequentially('sauerk', { delay: 40 });
  await expect(page.locator('.quick-titles .search-hit').first()).toHaveAttribute('data-note-id', fixtureNoteId('Sauerkraut'));
  await box(page).press('Escape');
  await expect(page.locator('.quick-results')).toHaveCount(0);
});

test('the search page: Trilium syntax, results with paths and snippets, linked from the quick search', async ({ page }) => {
  await box(page).pressSequentially('flour', { delay: 40 });
  await page.locator('.all-results').click();
  await expect(page).toHaveURL(`${instance.base}/search?q=flour`);
  const hit = page.locator(`.search-results .search-hit[data-note-id="${fixtureNoteId('Pancakes')}"]`);
  await expect(hit.locator('.hit-snippet mark').first()).toHaveText(/^flour$/i);
  await expect(hit.locator('.hit-path')).toContainText('Recipes');
  await expect(page.locator('nav.tree')).toBeVisible();
  await page.screenshot({ path: 'screenshots/search.png' });

  // The language: a label, a property, a parse error said as such.
  await page.goto(`${instance.base}/search?q=${encodeURIComponent('#project')}`);
  await expect(page.locator('.search-count')).toHaveText(/\d+ notes?/);
  await expect(page.locator(`.search-hit[data-note-id="${fixtureNoteId('Fixture Notebook')}"]`)).toBeVisible();
  await page.goto(`${instance.base}/search?q=${encodeURIComponent('note.title = Sauerkraut')}`);
  await expect(page.locator('.search-results .search-hit')).toHaveCount(1);
  await page.locator('.search-query').fill('(#broken');
  await page.locator('.search-form button[type=submit]').click();
  await expect(page.locator('.search-error')).toContainText('does not parse');
});

test('saving a search makes a Trilium search note that lists its results when opened', async ({ page }) => {
  await page.goto(`${instance.base}/search?q=flour`);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await page.locator('.save-search').click();
  await expect(page).toHaveURL(/\/\?note=[A-Za-z0-9]+$/);
  const saved = new URL(page.url()).searchParams.get('note')!;
  await expect(page.locator('article.note')).toHaveAttribute('data-note-type', 'search');
  await expect(page.locator('.note-title')).toHaveValue('Search: flour');
  await expect(page.locator(`.saved-search .search-hit[data-note-id="${fixtureNoteId('Pancakes')}"] mark`).first()).toHaveText(/flour/i);
  // Reopened from scratch, it still lists them (the results come from its #searchString).
  await page.goto(`${instance.base}/?note=${saved}`);
  await expect(page.locator(`.saved-search .search-hit[data-note-id="${fixtureNoteId('Pancakes')}"]`)).toBeVisible();
});

test('Ctrl+J jumps to a note by its title', async ({ page }) => {
  await page.locator('body').press('Control+j');
  const dialog = page.locator('.jump-dialog');
  await expect(dialog).toBeVisible();
  await expect(page.locator('.jump-input')).toBeFocused();
  await page.keyboard.type('troms', { delay: 40 });
  const hit = dialog.locator(`.search-hit[data-note-id="${fixtureNoteId('Tromsø')}"]`);
  await expect(hit).toHaveAttribute('aria-selected', 'true');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(`${instance.base}/?note=${fixtureNoteId('Tromsø')}`);
  await expect(dialog).toHaveCount(0);
  await page.locator('body').press('Control+j');
  await expect(dialog).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
});

test('script in a title or a body never runs in results', async ({ page }) => {
  const login = await page.request.post(`${instance.base}/etapi/auth/login`, { data: { password: manifest.password } });
  const token = (await login.json()).authToken as string;
  const title = '<img src=x onerror="window.__xss=1">xsswordtitle <script>window.__xss=2</script>';
  const content =
    '<p>xsswordbody <img src=x onerror="window.__xss=3"><script>window.__xss=4</script>' +
    '<a href="javascript:window.__xss=5">link</a><svg><script>window.__xss=6</script></svg></p>';
  const created = await page.request.post(`${instance.base}/etapi/create-note`, {
    headers: { Authorization: token },
    data: { parentNoteId: 'root', title, type: 'text', content },
  });
  expect(created.ok()).toBeTruthy();
  const noteId = (await created.json()).note.noteId as string;
  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });

  await box(page).pressSequentially('xsswordbody', { delay: 20 });
  const hit = page.locator(`.quick-results .search-hit[data-note-id="${noteId}"]`);
  await expect(hit.locator('.hit-snippet mark')).toHaveText('xsswordbody');
  await expect(hit.locator('.hit-title')).toHaveText(title);
  await box(page).fill('');
  await box(page).pressSequentially('xsswordtitle', { delay: 20 });
  await expect(page.locator(`.quick-titles .search-hit[data-note-id="${noteId}"] .hit-title`)).toHaveText(title);
  await expect(page.locator('.quick-results img, .quick-results script, .quick-results svg')).toHaveCount(0);

  await page.goto(`${instance.base}/search?q=xsswordbody`);
  await expect(page.locator(`.search-hit[data-note-id="${noteId}"] .hit-title`)).toHaveText(title);
  await expect(page.locator('.search-results img, .search-results script, .search-results svg')).toHaveCount(0);
  // The server render shows the results before the page hydrates; Ctrl+J needs the hydrated page.
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await page.locator('body').press('Control+j');
  await expect(page.locator('.jump-input')).toBeFocused();
  await page.keyboard.type('xsswordtitle', { delay: 20 });
  await expect(page.locator(`.jump-dialog .search-hit[data-note-id="${noteId}"] .hit-title`)).toHaveText(title);
  await expect(page.locator('.jump-dialog img, .jump-dialog script')).toHaveCount(0);

  expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  expect(dialogs).toEqual([]);
});
