// Protected notes in the page, on a real instance serving a copy of the Trilium 0.63.7 fixture (its
// protected note was encrypted by Trilium; the password is the manifest's): a wrong password says so
// and writes nothing, unlocking shows the title in the tree and the note in its editor, an edit saves
// encrypted, the session ends on demand and by timeout (shortened here) in every tab, and a note is
// protected and unprotected from the tree's menu.
import { expect, test, type Page } from '@playwright/test';
import { expectClean, loginAt, manifest, startFixtureInstance, watch, type Instance } from './helpers';

let instance: Instance;
let base: string;
const protectedId: string = manifest.roles.protectedNote;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  instance = await startFixtureInstance('protected', '[General]\nnoBackup=true\n');
  base = instance.base;
});

test.afterAll(async () => instance?.stop());

test.beforeEach(async ({ page }) => loginAt(page, base, manifest.password));

async function headers(page: Page): Promise<Record<string, string>> {
  const token = await page.locator('meta[name=csrf-token]').getAttribute('content');
  expect(token).toBeTruthy();
  return { 'X-CSRF-Token': token! };
}

async function call(page: Page, name: string, form: Record<string, string> = {}) {
  const response = await page.request.post(`${base}/ui/${name}`, { form, headers: await headers(page) });
  return { status: response.status(), body: await response.json().catch(() => null) };
}

async function openNote(page: Page, id: string) {
  await page.goto(`${base}/?note=${id}`);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
}

const row = (page: Page, id: string) => page.locator(`nav.tree .tree-row[data-note-id="${id}"]`).first();
const lock = (page: Page) => page.locator('.pane-bar .protected-session');

async function unlockWith(page: Page, password: string) {
  await page.locator('.password-dialog input[type=password]').fill(password);
  await page.locator('.password-dialog button[type=submit]').click();
}

test('a wrong password gets a clear message and writes nothing; the right one opens the note in its editor', async ({ page }) => {
  const watched = watch(page);
  // Every test starts locked (a new login has no protected session).
  await openNote(page, protectedId);
  await expect(row(page, protectedId).locator('.note-link')).toHaveText('[protected]');
  await expect(row(page, protectedId).locator('.protected-marker')).toBeVisible();
  await expect(page.locator('.locked-note')).toContainText('protected');
  await expect(lock(page)).toHaveAttribute('data-state', 'locked');
  const before = await call(page, 'note_source', { note_id: protectedId });
  expect(before.status).toBeGreaterThanOrEqual(400);

  await page.locator('.locked-note .unlock-note').click();
  await expect(page.locator('.password-dialog')).toBeVisible();
  await unlockWith(page, 'not-the-password');
  await expect(page.locator('.password-dialog .protected-error')).toContainText('Wrong password');
  await page.screenshot({ path: 'screenshots/protected-wrong-password.png' });
  expect((await call(page, 'protected/status')).body.unlocked).toBe(false);
  await expect(row(page, protectedId).locator('.note-link')).toHaveText('[protected]');

  await unlockWith(page, manifest.password);
  await expect(page.locator('.password-dialog')).toHaveCount(0);
  await expect(lock(page)).toHaveAttribute('data-state', 'unlocked');
  await expect(row(page, protectedId).locator('.note-link')).not.toHaveText('[protected]');
  const title = (await row(page, protectedId).locator('.note-link').textContent())!.trim();
  expect(title.length).toBeGreaterThan(0);
  await expect(page.locator('.note-title')).toHaveValue(title);
  await expect(page.locator('.note-body.editing')).toBeVisible();

  // An edit in the editor saves (encrypted on the server, read back decrypted through the session).
  const editable = page.locator('.ck-editor__editable_inline');
  await editable.locator('p').last().click();
  await page.keyboard.press('End');
  await page.keyboard.type(' Typed while unlocked.');
  await expect(page.locator('.save-status')).toHaveText('saved', { timeout: 10_000 });
  const after = await call(page, 'note_source', { note_id: protectedId });
  expect(after.status).toBe(200);
  expect(after.body.content).toContain('Typed while unlocked.');
  await page.screenshot({ path: 'screenshots/protected-unlocked.png' });

  // Locked on demand: the title hides again and the pane offers to unlock.
  await lock(page).click();
  await expect(lock(page)).toHaveAttribute('data-state', 'locked');
  await expect(row(page, protectedId).locator('.note-link')).toHaveText('[protected]');
  await expect(page.locator('.locked-note')).toBeVisible();
  // The refused unlock is the one failed request the browser reports.
  expect(watched.errors.filter((e) => e.includes('status of 400')).length).toBe(1);
  expectClean({ ...watched, errors: watched.errors.filter((e) => !e.includes('status of 400')) });
});

test('the session ends by timeout in every tab of the login', async ({ page, context }) => {
  test.setTimeout(60_000);
  await openNote(page, protectedId);
  const saved = await call(page, 'protected/timeout', { seconds: '10' });
  expect(saved.status).toBe(200);
  expect((await call(page, 'protected/timeout', { seconds: '5' })).status).toBe(400);
  await lock(page).click();
  await unlockWith(page, manifest.password);
  await expect(lock(page)).toHaveAttribute('data-state', 'unlocked');
  // A second tab of the same login shows the protected title too.
  const second = await context.newPage();
  await openNote(second, protectedId);
  await expect(lock(second)).toHaveAttribute('data-state', 'unlocked');
  await expect(row(second, protectedId).locator('.note-link')).not.toHaveText('[protected]');
  // Nothing touches the session for 10 s: both tabs lock by themselves.
  for (const tab of [page, second]) {
    await expect(lock(tab)).toHaveAttribute('data-state', 'locked', { timeout: 25_000 });
    await expect(row(tab, protectedId).locator('.note-link')).toHaveText('[protected]');
    await expect(tab.locator('.locked-note')).toBeVisible();
  }
  expect((await call(page, 'protected/timeout', { seconds: '600' })).status).toBe(200);
  await second.close();
});

test('a note is protected and unprotected from the tree menu', async ({ page }) => {
  await openNote(page, protectedId);
  const created = await call(page, 'tree/create', { parent_note_id: 'root', note_type: 'text' });
  expect(created.status).toBe(200);
  const id: string = created.body.note_id;
  expect((await call(page, 'tree/rename', { note_id: id, title: 'Made private' })).status).toBe(200);
  await openNote(page, id);
  await expect(row(page, id).locator('.note-link')).toHaveText('Made private');

  // Without the session the menu asks for the password first.
  await row(page, id).click({ button: 'right' });
  await page.getByRole('menuitem', { name: 'Protect note', exact: true }).click();
  await expect(page.locator('.password-dialog')).toBeVisible();
  await unlockWith(page, manifest.password);
  await expect(lock(page)).toHaveAttribute('data-state', 'unlocked');
  await row(page, id).click({ button: 'right' });
  await page.getByRole('menuitem', { name: 'Protect note', exact: true }).click();
  await expect(row(page, id).locator('.protected-marker')).toBeVisible();
  await expect(row(page, id).locator('.note-link')).toHaveText('Made private');

  await lock(page).click();
  await expect(row(page, id).locator('.note-link')).toHaveText('[protected]');
  await lock(page).click();
  await unlockWith(page, manifest.password);
  await row(page, id).click({ button: 'right' });
  await page.getByRole('menuitem', { name: 'Unprotect note', exact: true }).click();
  await expect(row(page, id).locator('.protected-marker')).toHaveCount(0);
  await lock(page).click();
  await expect(row(page, id).locator('.note-link')).toHaveText('Made private');
});

test('the options page changes the password with the old one and sets the timeout', async ({ page }) => {
  await page.goto(`${base}/options/password`);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  const form = page.locator('form.password-options');
  const change = async (old: string, next: string) => {
    await form.locator('input[name=old-password]').fill(old);
    await form.locator('input[name=new-password]').fill(next);
    await form.locator('input[name=new-password-again]').fill(next);
    await form.locator('button[type=submit]').click();
  };
  await change('not-the-password', 'changed-pass');
  await expect(form.locator('.password-message')).toContainText('old password is wrong');
  await change(manifest.password, 'changed-pass');
  await expect(form.locator('.password-message')).toContainText('The password is changed');
  // The new password unlocks; the old one no longer does.
  expect((await call(page, 'protected/unlock', { password: manifest.password })).status).toBe(400);
  expect((await call(page, 'protected/unlock', { password: 'changed-pass' })).status).toBe(200);
  await change('changed-pass', manifest.password);
  await expect(form.locator('.password-message')).toContainText('The password is changed');

  const timeout = page.locator('form.protected-timeout');
  await timeout.locator('input[name=protectedSessionTimeout]').fill('5');
  await timeout.locator('button[type=submit]').click();
  await expect(timeout.locator('.timeout-message')).toContainText('at least 10 seconds');
  await timeout.locator('input[name=protectedSessionTimeout]').fill('900');
  await timeout.locator('button[type=submit]').click();
  await expect(timeout.locator('.timeout-message')).toContainText('900 seconds');
  expect((await call(page, 'protected/status')).body.timeout_secs).toBe(900);
  await page.screenshot({ path: 'screenshots/protected-options.png' });
});
