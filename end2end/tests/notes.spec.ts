import { expect, test, type Page } from '@playwright/test';
import { base, login } from './helpers';

/** Records every request the page makes, to prove none leaves 127.0.0.1. */
function recordRequests(page: Page): string[] {
  const urls: string[] = [];
  page.on('request', (request) => urls.push(request.url()));
  return urls;
}

function expectAllLocal(urls: string[]) {
  expect(urls.length).toBeGreaterThan(0);
  for (const url of urls) {
    expect(new URL(url).hostname, url).toBe('127.0.0.1');
  }
}

test('the server renders the tree from document.db without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  // The login form works without JavaScript too.
  await login(page);
  await expect(page.locator('nav.tree .note-link', { hasText: 'Welcome to Canopy' })).toBeVisible();
  // No wasm ran, so the page is exactly what the server sent.
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'false');
  await context.close();
});

test('after hydration, expanding and opening notes works without a reload', async ({ page }) => {
  const requests = recordRequests(page);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));

  await login(page);
  // Set only by an effect, and effects run only in the browser once the wasm has hydrated the page.
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await page.evaluate(() => ((window as any).__sameDocument = true));

  const welcome = page.locator('li.tree-item', { has: page.locator(':scope > .tree-row .note-link', { hasText: 'Welcome to Canopy' }) });
  // The tree remembers expansion (Trilium's isExpanded): an earlier test may have left it open.
  const welcomeToggle = welcome.locator(':scope > .tree-row .toggle');
  if ((await welcomeToggle.getAttribute('aria-expanded')) === 'true') await welcomeToggle.click();
  await expect(welcome.locator('.tree-level')).toHaveCount(0);
  await welcome.locator(':scope > .tree-row .toggle').click();
  const child = welcome.locator('.tree-level .note-link', { hasText: 'Getting started' });
  await expect(child).toBeVisible();
  await expect(welcome.locator(':scope > .tree-row .toggle')).toHaveAttribute('aria-expanded', 'true');

  await child.click();
  await expect(page).toHaveURL(/\?note=/);
  await expect(page.locator('article.note .note-title')).toHaveValue('Getting started');
  await expect(page.locator('article.note .note-content')).toContainText('make run');
  await expect(welcome.locator('.tree-row.selected .note-link')).toHaveText('Getting started');

  // Collapsing hides the children again.
  await welcome.locator(':scope > .tree-row .toggle').click();
  await expect(child).toBeHidden();

  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);
  expectAllLocal(requests);
  expect(requests.some((u) => u.endsWith('.wasm'))).toBe(true);
  expect(errors).toEqual([]);
});

test('a link to a note renders it on the server', async ({ page }) => {
  const requests = recordRequests(page);
  await login(page);
  const href = await page.locator('nav.tree .note-link', { hasText: 'Welcome to Canopy' }).getAttribute('href');
  expect(href).toMatch(/^\/\?note=[A-Za-z0-9_]+$/);
  await page.goto(`${base()}${href}`);
  await expect(page.locator('article.note .note-title')).toHaveValue('Welcome to Canopy');
  expectAllLocal(requests);
});
