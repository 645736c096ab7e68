// Shared by history.spec.ts and xss.spec.ts: notes, content and revisions made through ETAPI (the
// suite's instance), and the page's own server functions.
import { expect, type APIRequestContext, type Page } from '@playwright/test';
import { base, password } from './helpers';

let cachedToken: string | undefined;

/** An ETAPI token of the suite's instance (logged in once with the document's password). */
export async function etapiToken(request: APIRequestContext): Promise<string> {
  if (cachedToken) return cachedToken;
  const login = await request.post(`${base()}/etapi/auth/login`, { data: { password: password() } });
  expect(login.status(), await login.text()).toBe(201);
  cachedToken = (await login.json()).authToken as string;
  return cachedToken;
}

/** A note under `parent`; returns its note and branch ids. */
export async function createNote(
  request: APIRequestContext,
  parent: string,
  title: string,
  content: string,
  type = 'text',
): Promise<{ noteId: string; branchId: string }> {
  const token = await etapiToken(request);
  const created = await request.post(`${base()}/etapi/create-note`, {
    headers: { Authorization: token },
    data: { parentNoteId: parent, title, type, content, ...(type === 'code' ? { mime: 'text/plain' } : {}) },
  });
  expect(created.status(), await created.text()).toBe(201);
  const body = await created.json();
  return { noteId: body.note.noteId, branchId: body.branch.branchId };
}

export async function setContent(request: APIRequestContext, noteId: string, content: string): Promise<void> {
  const token = await etapiToken(request);
  const put = await request.put(`${base()}/etapi/notes/${noteId}/content`, {
    headers: { Authorization: token, 'Content-Type': 'text/plain' },
    data: content,
  });
  expect(put.status(), await put.text()).toBe(204);
}

export async function setTitle(request: APIRequestContext, noteId: string, title: string): Promise<void> {
  const token = await etapiToken(request);
  const patch = await request.patch(`${base()}/etapi/notes/${noteId}`, { headers: { Authorization: token }, data: { title } });
  expect(patch.status(), await patch.text()).toBe(200);
}

/** A revision of the note as it is now (ETAPI's `POST /notes/{id}/revision`). */
export async function takeRevision(request: APIRequestContext, noteId: string): Promise<void> {
  const token = await etapiToken(request);
  const post = await request.post(`${base()}/etapi/notes/${noteId}/revision`, { headers: { Authorization: token } });
  expect(post.status(), await post.text()).toBe(204);
}

/** Calls a server function as the page does (its session cookie and CSRF token). */
export async function serverFn(page: Page, name: string, form: Record<string, string>): Promise<any> {
  const token = await page.evaluate(() => document.querySelector('meta[name=csrf-token]')?.getAttribute('content') ?? null);
  const response = await page.request.post(`${base()}/ui/${name}`, { form, headers: token ? { 'X-CSRF-Token': token } : {} });
  expect(response.ok(), `${name}: ${await response.text()}`).toBeTruthy();
  return response.json();
}

/** Goes to `path` and waits until the wasm has hydrated the page. */
export async function open(page: Page, path: string): Promise<void> {
  await page.goto(`${base()}${path}`);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
}

/** Console errors and uncaught exceptions; a test expects none. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[0-9]/.test(m.text())) errors.push(m.text());
    // Leptos reports a render that does not match the server's HTML as a warning.
    if (m.type() === 'warning' && /hydrat/i.test(m.text())) errors.push(m.text());
  });
  return errors;
}
