// An edit made on one instance's page reaches another instance through a hub: two real instances on
// copies of the real Trilium 0.63.7 fixture, the client made as the README says (the hub's document
// copied, `[Sync] syncServerHost` in its config.ini). Sync is automatic; nothing here triggers it.
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { expectClean, fixtureNoteId, loginAt, manifest, startFixtureInstance, watch, type Instance } from './helpers';

let hub: Instance;
let client: Instance;

test.beforeAll(async () => {
  test.setTimeout(90_000);
  hub = await startFixtureInstance('hub', '[General]\nnoBackup=true\n');
  client = await startFixtureInstance('client', `[General]\nnoBackup=true\n[Sync]\nsyncServerHost=${hub.base}\n`);
  await client.waitForLog(/Sync connection established with/, 30_000);
});

test.afterAll(async () => {
  await client?.stop();
  await hub?.stop();
});

/** Opens a note and waits until its editor has replaced the server-rendered view. */
async function openNote(page: Page, url: string, id: string) {
  await page.goto(`${url}/?note=${id}`);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.locator('.note-body.editing')).toBeVisible();
}

/** The hub's copy of a note (title and content), read over ETAPI. */
async function hubNote(request: APIRequestContext, token: string, id: string): Promise<{ title: string; content: string }> {
  const headers = { Authorization: token };
  const note = await request.get(`${hub.base}/etapi/notes/${id}`, { headers });
  expect(note.status()).toBe(200);
  const content = await request.get(`${hub.base}/etapi/notes/${id}/content`, { headers });
  expect(content.status()).toBe(200);
  return { title: (await note.json()).title, content: await content.text() };
}

test('an edit and a rename on the client page reach the hub within seconds', async ({ page, browser, request }) => {
  test.setTimeout(60_000);
  const id = fixtureNoteId('Oaxaca');
  expect(id, 'the manifest names the note').toBeTruthy();
  const word = `Syncword${Date.now().toString(36)}`;
  const title = `Oaxaca ${word}`;

  const login = await request.post(`${hub.base}/etapi/auth/login`, { data: { password: manifest.password } });
  expect(login.status()).toBe(201);
  const token: string = (await login.json()).authToken;
  const before = await hubNote(request, token, id);
  expect(before.content).not.toContain(word);
  expect(before.title).toBe('Oaxaca');

  // The hub's page, open on the note before the edit happens elsewhere.
  const hubContext = await browser.newContext();
  const hubPage = await hubContext.newPage();
  const hubWatched = watch(hubPage);
  await loginAt(hubPage, hub.base, manifest.password);
  await openNote(hubPage, hub.base, id);
  await expect(hubPage.locator('.ck-editor__editable_inline')).not.toContainText(word);

  // The client's page: type a word, let it autosave, then rename the note.
  const watched = watch(page);
  await loginAt(page, client.base, manifest.password);
  await openNote(page, client.base, id);
  await page.locator('.ck-editor__editable_inline p').last().click();
  await page.keyboard.press('End');
  await page.keyboard.type(` ${word}`);
  await expect(page.locator('.save-status[data-state=saved]')).toBeVisible({ timeout: 10_000 });
  const saved = Date.now();
  const titleField = page.locator('input.note-title');
  await titleField.fill(title);
  await titleField.press('Enter');
  await expect(page.locator('.title-error')).toHaveCount(0);
  const renamed = Date.now();

  // Both changes arrive at the hub on their own (push on write), well within 10 s of the rename.
  await expect
    .poll(async () => {
      const now = await hubNote(request, token, id);
      return { title: now.title, hasWord: now.content.includes(word) };
    }, { timeout: 10_000, intervals: [100, 200, 250] })
    .toEqual({ title, hasWord: true });
  const arrived = Date.now();
  test.info().annotations.push({
    type: 'sync latency',
    description: `content ${arrived - saved} ms after its save, title ${arrived - renamed} ms after the rename (upper bounds)`,
  });

  // The hub's page shows the word and the new title after a reload.
  await hubPage.reload();
  await expect(hubPage.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await expect(hubPage.locator('.note-body.editing')).toBeVisible();
  await expect(hubPage.locator('.ck-editor__editable_inline')).toContainText(word);
  await expect(hubPage.locator('input.note-title')).toHaveValue(title);

  expectClean(watched);
  expectClean(hubWatched);
  await hubContext.close();
});
