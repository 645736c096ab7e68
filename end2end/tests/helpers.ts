// Shared by the spec files: the instance's address and logging in.
import { expect, type Page } from '@playwright/test';

/** The instance global-setup.ts started. */
export function base(): string {
  const url = process.env.CANOPY_URL;
  if (!url) throw new Error('CANOPY_URL is not set: global setup did not start the server');
  return url;
}

/** The document's password (set by global-setup.ts with `canopy --set-password`). */
export function password(): string {
  const password = process.env.CANOPY_E2E_PASSWORD;
  if (!password) throw new Error('CANOPY_E2E_PASSWORD is not set: global setup did not run');
  return password;
}

/** Logs `page` in through the login form and leaves it on `next` (a path such as `/?note=...`). */
export async function login(page: Page, next = '/'): Promise<void> {
  await page.goto(`${base()}/login?next=${encodeURIComponent(next)}`);
  await page.locator('input[name=password]').fill(password());
  await page.locator('button[type=submit]').click();
  await expect(page).toHaveURL(`${base()}${next}`);
}

/** The CSRF token the server rendered into the page. */
export async function csrfToken(page: Page): Promise<string> {
  const token = await page.locator('meta[name=csrf-token]').getAttribute('content');
  expect(token, 'the page carries a CSRF token').toBeTruthy();
  return token!;
}
