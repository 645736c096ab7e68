// The note tree on a real instance in Chromium: creating, renaming, deleting with undo, moving by drag
// and drop and by cut/paste, cloning, reordering, keyboard navigation, remembered expansion, refusals,
// and the layout at desktop and phone width (screenshots for the README).
import { expect, test, type Locator, type Page } from '@playwright/test';
import { base, login } from './helpers';

// Every test works in a logged-in page; `open` then navigates within the session.
test.beforeEach(async ({ page }) => {
  await login(page);
});

/** Collects console errors and uncaught exceptions; a test expects none. A test that provokes a
 *  refusal passes `refusals`: Chromium logs every 4xx answer of a fetch as a console error. */
function watchErrors(page: Page, refusals = false): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (refusals && /status of 40[03]/.test(m.text())) return;
    errors.push(m.text());
  });
  return errors;
}

async function open(page: Page, path = '/') {
  await page.goto(`${base()}${path}`);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
}

/** Calls a tree server function as the page does (session cookie and CSRF token of this page). */
async function serverFn(page: Page, name: string, form: Record<string, string>): Promise<any> {
  const token = await page.evaluate(() => document.querySelector('meta[name=csrf-token]')?.getAttribute('content') ?? null);
  const response = await page.request.post(`${base()}/ui/${name}`, {
    form,
    headers: token ? { 'X-CSRF-Token': token } : {},
  });
  expect(response.ok(), `${name}: ${await response.text()}`).toBeTruthy();
  return response.json();
}

/** A note made through the server functions, titled, under `parent`. */
async function makeNote(page: Page, parent: string, title: string, type = 'text'): Promise<{ note_id: string; branch_id: string }> {
  const entry = await serverFn(page, 'tree/create', { parent_note_id: parent, note_type: type });
  await serverFn(page, 'tree/rename', { note_id: entry.note_id, title });
  return entry;
}

function exact(title: string) {
  return new RegExp(`^${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}

/** The row of the note titled `title` (the first one if the note is cloned). */
function row(page: Page, title: string): Locator {
  return page.locator('nav.tree .tree-row', { has: page.locator('.note-link', { hasText: exact(title) }) }).first();
}

/** The titles under the note titled `parent` (or root), in tree order. */
async function childTitles(page: Page, parent: string | null): Promise<string[]> {
  const level = parent
    ? page.locator('nav.tree li.tree-item', { has: page.locator(':scope > .tree-row .note-link', { hasText: exact(parent) }) }).first().locator(':scope > .tree-level')
    : page.locator('nav.tree > .tree-level, nav.tree > * > .tree-level').first();
  return level.locator(':scope > li > .tree-row .note-link').allTextContents();
}

/** Clicks the row's toggle and waits until the server has stored the new state. */
async function toggleAndWait(page: Page, title: string) {
  const stored = page.waitForResponse((r) => r.url().endsWith('/ui/tree/expanded') && r.ok());
  await row(page, title).locator('.toggle').click();
  await stored;
}

/** Opens the row of `title` if it is closed (a row may come back open: its branch remembers). */
async function expand(page: Page, title: string) {
  const toggle = row(page, title).locator('.toggle');
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
}

/** A note of our own under root, renamed in place after "New note". */
async function newRootNote(page: Page, title: string): Promise<Locator> {
  await page.locator('.pane-bar .new-note').click();
  const input = page.locator('nav.tree input.rename');
  await expect(input).toBeFocused();
  await input.fill(title);
  await input.press('Enter');
  await expect(row(page, title)).toBeVisible();
  return row(page, title);
}

async function menu(page: Page, target: Locator, item: string) {
  await target.click({ button: 'right' });
  await page.locator('.context-menu .menu-item', { hasText: item }).click();
}

// First, so the README's screenshots show a few realistic notes rather than what later tests make.
/** A few realistic notes for the screenshots. */
async function demoNotes(page: Page) {
  const projects = await makeNote(page, 'root', 'Projects');
  await makeNote(page, projects.note_id, 'Canopy roadmap');
  await makeNote(page, projects.note_id, 'Garden irrigation');
  await makeNote(page, projects.note_id, 'deploy.sh', 'code');
  const recipes = await makeNote(page, 'root', 'Recipes');
  const pancakes = await makeNote(page, recipes.note_id, 'Pancakes');
  const ramen = await makeNote(page, recipes.note_id, 'Ramen');
  await makeNote(page, recipes.note_id, 'Shakshuka');
  const travel = await makeNote(page, 'root', 'Travel journal');
  await makeNote(page, travel.note_id, 'Kyoto, spring');
  await serverFn(page, 'tree/clone', { note_id: ramen.note_id, parent_note_id: travel.note_id, prefix: 'Tokyo food' });
  await makeNote(page, 'root', 'Reading list');
  for (const id of [projects.branch_id, recipes.branch_id, travel.branch_id]) {
    await serverFn(page, 'tree/expanded', { branch_id: id, expanded: 'true' });
  }
  return { pancakes };
}

test('screenshots: desktop with an open note, and the phone drawer at 390 px', async ({ browser }) => {
  const desktop = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = watchErrors(desktop);
  await login(desktop);
  await open(desktop);
  await demoNotes(desktop);
  const welcome = (await serverFn(desktop, 'children', { parent_note_id: 'root' })).find((c: any) => c.title === 'Welcome to Canopy');
  const started = (await serverFn(desktop, 'children', { parent_note_id: welcome.note_id }))[0];
  await open(desktop, `/?note=${started.note_id}`);
  await expect(row(desktop, started.title)).toHaveClass(/selected/);
  await desktop.mouse.move(900, 700);
  await desktop.screenshot({ path: 'screenshots/desktop.png' });
  expect(errors).toEqual([]);
  await desktop.close();

  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
  const phoneErrors = watchErrors(phone);
  await login(phone, `/?note=${started.note_id}`);
  await expect(phone.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await expect(phone.locator('.tree-pane')).not.toBeInViewport();
  await expect(phone.locator('article.note .note-title')).toBeVisible();
  await phone.locator('.open-drawer').click();
  await expect(phone.locator('.tree-pane')).toBeInViewport();
  await phone.screenshot({ path: 'screenshots/phone-390.png' });
  // Choosing a note closes the drawer and opens the note.
  await row(phone, 'Pancakes').locator('.note-link').click();
  await expect(phone.locator('article.note .note-title')).toHaveValue('Pancakes');
  await expect(phone.locator('.tree-pane')).not.toBeInViewport();
  expect(phoneErrors).toEqual([]);
  await phone.close();
});

test('create a child and a sibling from the menu, rename by F2 and double-click, bad titles refused', async ({ page }) => {
  const errors = watchErrors(page, true);
  await open(page);
  const parent = await newRootNote(page, 'Garden');
  await expect(page).toHaveURL(/\?note=/);
  await expect(parent).toHaveClass(/selected/);

  await menu(page, parent, 'New child note: Text');
  const input = page.locator('nav.tree input.rename');
  await input.fill('Tomatoes');
  await input.press('Enter');
  await expect(row(page, 'Tomatoes')).toBeVisible();
  await expect(parent.locator('.toggle')).toHaveAttribute('aria-expanded', 'true');

  await menu(page, row(page, 'Tomatoes'), 'New sibling note: Code');
  await input.fill('watering.py');
  await input.press('Enter');
  await expect(row(page, 'watering.py').locator('.tree-icon')).toHaveClass(/bx-code/);
  expect(await childTitles(page, 'Garden')).toEqual(['Tomatoes', 'watering.py']);

  // F2, Escape cancels; F2, Enter saves.
  await row(page, 'Tomatoes').focus();
  await page.keyboard.press('F2');
  await input.fill('Never saved');
  await input.press('Escape');
  await expect(row(page, 'Tomatoes')).toBeVisible();
  await row(page, 'Tomatoes').focus();
  await page.keyboard.press('F2');
  await input.fill('Cherry tomatoes');
  await input.press('Enter');
  await expect(row(page, 'Cherry tomatoes')).toBeFocused();

  // Double-click renames too; an empty title and a 1,001-character one are refused with a message.
  await row(page, 'watering.py').locator('.note-link').dblclick();
  await input.fill('   ');
  await input.press('Enter');
  await expect(page.locator('.toast.error')).toContainText('must not be empty');
  await input.fill('x'.repeat(1001));
  await input.press('Enter');
  await expect(page.locator('.toast.error')).toContainText('longer than 1000');
  await input.fill('irrigation.py');
  await input.press('Enter');
  await expect(row(page, 'irrigation.py')).toBeVisible();

  await page.reload();
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  expect(await childTitles(page, 'Garden')).toEqual(['Cherry tomatoes', 'irrigation.py']);
  expect(errors).toEqual([]);
});

test('delete shows an undo notice that brings the note back', async ({ page }) => {
  const errors = watchErrors(page);
  await open(page);
  const parent = await makeNote(page, 'root', 'Shopping');
  await makeNote(page, parent.note_id, 'Milk');
  await makeNote(page, parent.note_id, 'Bread');
  await open(page, `/?note=${parent.note_id}`);
  await expand(page, 'Shopping');
  await row(page, 'Milk').focus();
  await page.keyboard.press('Delete');
  await expect(page.locator('.toast')).toContainText('Deleted “Milk”');
  expect(await childTitles(page, 'Shopping')).toEqual(['Bread']);
  await page.locator('.toast .undo').click();
  await expect(row(page, 'Milk')).toBeVisible();
  expect(await childTitles(page, 'Shopping')).toEqual(['Milk', 'Bread']);
  await page.reload();
  expect(await childTitles(page, 'Shopping')).toEqual(['Milk', 'Bread']);
  expect(errors).toEqual([]);
});

test('drag and drop moves a note, with an indicator, and the order survives a reload', async ({ page }) => {
  const errors = watchErrors(page);
  await open(page);
  const box = await makeNote(page, 'root', 'Dnd box');
  for (const t of ['Dnd one', 'Dnd two', 'Dnd three']) await makeNote(page, box.note_id, t);
  const target = await makeNote(page, 'root', 'Dnd target');
  await open(page, `/?note=${box.note_id}`);
  await expand(page, 'Dnd box');
  expect(await childTitles(page, 'Dnd box')).toEqual(['Dnd one', 'Dnd two', 'Dnd three']);

  // Before: drop on the top quarter of "Dnd one".
  const first = row(page, 'Dnd one');
  const firstBox = (await first.boundingBox())!;
  await row(page, 'Dnd three').dragTo(first, { targetPosition: { x: 40, y: 2 } });
  await expect.poll(() => childTitles(page, 'Dnd box')).toEqual(['Dnd three', 'Dnd one', 'Dnd two']);
  expect(firstBox.height).toBeGreaterThan(10);

  // Into: drop on the middle of another note; the indicator shows while hovering.
  const dest = row(page, 'Dnd target');
  await row(page, 'Dnd two').hover();
  await page.mouse.down();
  const destBox = (await dest.boundingBox())!;
  await page.mouse.move(destBox.x + 40, destBox.y + destBox.height / 2, { steps: 5 });
  await row(page, 'Dnd two').dragTo(dest, { targetPosition: { x: 40, y: destBox.height / 2 } });
  await page.mouse.up();
  await expect.poll(() => childTitles(page, 'Dnd box')).toEqual(['Dnd three', 'Dnd one']);
  await expect(dest.locator('.toggle')).toBeVisible();

  await page.reload();
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  expect(await childTitles(page, 'Dnd box')).toEqual(['Dnd three', 'Dnd one']);
  await expand(page, 'Dnd target');
  await expect.poll(() => childTitles(page, 'Dnd target')).toEqual(['Dnd two']);
  expect(errors).toEqual([]);
  void target;
});

test('cut and paste moves; copy and paste as clone adds a second parent with a marker', async ({ page }) => {
  const errors = watchErrors(page);
  await open(page);
  const from = await makeNote(page, 'root', 'Clip from');
  await makeNote(page, from.note_id, 'Clip note');
  const to = await makeNote(page, 'root', 'Clip to');
  await makeNote(page, to.note_id, 'Clip existing');
  await open(page, `/?note=${from.note_id}`);
  await expand(page, 'Clip from');
  await row(page, 'Clip note').focus();
  await page.keyboard.press('Control+x');
  await expect(row(page, 'Clip note')).toHaveClass(/cut/);
  await row(page, 'Clip to').focus();
  await page.keyboard.press('Control+v');
  // Gone from where it was ("Clip to" is closed, so it shows nowhere for now).
  await expect(page.locator('nav.tree .note-link', { hasText: exact('Clip note') })).toHaveCount(0);
  await expand(page, 'Clip to');
  await expect.poll(() => childTitles(page, 'Clip to')).toEqual(['Clip existing', 'Clip note']);
  await expect(row(page, 'Clip from').locator('.toggle')).toHaveCount(0);

  // Copy, paste as clone: the note shows under both parents, marked as a clone.
  await row(page, 'Clip existing').focus();
  await page.keyboard.press('Control+c');
  await row(page, 'Clip from').focus();
  await page.keyboard.press('Control+Shift+V');
  await expect(row(page, 'Clip from').locator('.toggle')).toBeVisible();
  await expand(page, 'Clip from');
  await expect.poll(() => childTitles(page, 'Clip from')).toEqual(['Clip existing']);
  await expect(page.locator('nav.tree .tree-row', { hasText: 'Clip existing' }).locator('.clone-marker')).toHaveCount(2);

  // "Clone to…" with a prefix.
  await menu(page, row(page, 'Clip note'), 'Clone to…');
  await page.locator('.clone-dialog .clone-search').fill('Clip fro');
  await page.locator('.clone-dialog .pick', { hasText: exact('Clip from') }).click();
  await page.locator('.clone-dialog .clone-prefix').fill('Also');
  await page.locator('.clone-dialog button[type=submit]').click();
  const prefixed = page.locator('nav.tree .tree-row', { has: page.locator('.prefix', { hasText: 'Also' }) });
  await expect(prefixed.locator('.note-link')).toHaveText('Clip note');
  await expect(prefixed.locator('.clone-marker')).toBeVisible();
  expect(errors).toEqual([]);
});

test('Ctrl+Up and Ctrl+Down reorder, and the order survives a reload', async ({ page }) => {
  const errors = watchErrors(page);
  await open(page);
  const list = await makeNote(page, 'root', 'Order list');
  for (const t of ['Order a', 'Order b', 'Order c']) await makeNote(page, list.note_id, t);
  await open(page, `/?note=${list.note_id}`);
  await expand(page, 'Order list');
  await row(page, 'Order c').focus();
  await page.keyboard.press('Control+ArrowUp');
  await expect.poll(() => childTitles(page, 'Order list')).toEqual(['Order a', 'Order c', 'Order b']);
  await expect(row(page, 'Order c')).toBeFocused();
  await page.keyboard.press('Control+ArrowUp');
  await expect.poll(() => childTitles(page, 'Order list')).toEqual(['Order c', 'Order a', 'Order b']);
  await row(page, 'Order a').focus();
  await page.keyboard.press('Control+ArrowDown');
  await expect.poll(() => childTitles(page, 'Order list')).toEqual(['Order c', 'Order b', 'Order a']);
  await page.reload();
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  expect(await childTitles(page, 'Order list')).toEqual(['Order c', 'Order b', 'Order a']);
  expect(errors).toEqual([]);
});

test('keyboard: arrows move the focus, right and left open and close, Enter opens the note', async ({ page }) => {
  const errors = watchErrors(page);
  await open(page);
  const folder = await makeNote(page, 'root', 'Keys folder');
  await makeNote(page, folder.note_id, 'Keys child');
  await makeNote(page, 'root', 'Keys after');
  await open(page, `/?note=${folder.note_id}`);
  const folderRow = row(page, 'Keys folder');
  await folderRow.focus();
  await page.keyboard.press('ArrowRight');
  await expect(folderRow.locator('.toggle')).toHaveAttribute('aria-expanded', 'true');
  await page.keyboard.press('ArrowDown');
  await expect(row(page, 'Keys child')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('article.note .note-title')).toHaveValue('Keys child');
  await expect(row(page, 'Keys child')).toHaveClass(/selected/);
  await page.keyboard.press('ArrowLeft');
  await expect(folderRow).toBeFocused();
  await page.keyboard.press('ArrowLeft');
  await expect(folderRow.locator('.toggle')).toHaveAttribute('aria-expanded', 'false');
  await page.keyboard.press('ArrowDown');
  await expect(row(page, 'Keys after')).toBeFocused();
  await page.keyboard.press('ArrowUp');
  await expect(folderRow).toBeFocused();
  expect(errors).toEqual([]);
});

test('expanded state and the open note survive a reload; a link reveals its path', async ({ page }) => {
  const errors = watchErrors(page);
  await open(page);
  const a = await makeNote(page, 'root', 'Deep a');
  const b = await makeNote(page, a.note_id, 'Deep b');
  const c = await makeNote(page, b.note_id, 'Deep c');
  await open(page);
  await toggleAndWait(page, 'Deep a');
  await expect(row(page, 'Deep b')).toBeVisible();
  await page.reload();
  // Rendered open by the server: visible without JavaScript having run.
  await expect(row(page, 'Deep b')).toBeVisible();
  await expect(row(page, 'Deep c')).toHaveCount(0);
  await toggleAndWait(page, 'Deep a');
  await page.reload();
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await expect(row(page, 'Deep b')).toHaveCount(0);

  // A link straight to the deepest note: its ancestors are open and its row is highlighted.
  await open(page, `/?note=${c.note_id}`);
  await expect(row(page, 'Deep c')).toHaveClass(/selected/);
  await expect(page.locator('article.note .note-title')).toHaveValue('Deep c');
  expect(errors).toEqual([]);
});

test('moving a note into its own subtree shows an error and changes nothing', async ({ page }) => {
  const errors = watchErrors(page, true);
  await open(page);
  const outer = await makeNote(page, 'root', 'Cycle outer');
  await makeNote(page, outer.note_id, 'Cycle inner');
  await open(page, `/?note=${outer.note_id}`);
  await expand(page, 'Cycle outer');
  const inner = row(page, 'Cycle inner');
  const innerBox = (await inner.boundingBox())!;
  await row(page, 'Cycle outer').dragTo(inner, { targetPosition: { x: 40, y: innerBox.height / 2 } });
  await expect(page.locator('.toast.error')).toContainText('cycle');
  expect(await childTitles(page, 'Cycle outer')).toEqual(['Cycle inner']);
  // And by cut/paste.
  await row(page, 'Cycle outer').focus();
  await page.keyboard.press('Control+x');
  await inner.focus();
  await page.keyboard.press('Control+v');
  await expect(page.locator('.toast.error')).toContainText('cycle');
  await page.reload();
  expect(await childTitles(page, 'Cycle outer')).toEqual(['Cycle inner']);
  expect(errors).toEqual([]);
});

test('the tree pane resizes, remembers its width, and collapses with a button and Ctrl+\\', async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 1280, height: 800 });
  await open(page);
  const pane = page.locator('.tree-pane');
  const handle = page.locator('.resize-handle');
  const h = (await handle.boundingBox())!;
  await page.mouse.move(h.x + 4, h.y + 200);
  await page.mouse.down();
  await page.mouse.move(420, h.y + 200, { steps: 4 });
  await page.mouse.up();
  await expect.poll(async () => Math.round((await pane.boundingBox())!.width)).toBeGreaterThan(410);
  await page.reload();
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await expect.poll(async () => Math.round((await pane.boundingBox())!.width)).toBeGreaterThan(410);

  await page.locator('.collapse-tree').click();
  await expect(pane).toBeHidden();
  await page.keyboard.press('Control+\\');
  await expect(pane).toBeVisible();
  await page.evaluate(() => localStorage.clear());
  expect(errors).toEqual([]);
});
