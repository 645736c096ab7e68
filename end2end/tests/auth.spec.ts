import { expect, test } from '@playwright/test';
import { base, csrfToken, login, password } from './helpers';

test('without a session the page goes to the login and both server functions refuse', async ({ request }) => {
  const page = await request.get(`${base()}/?note=root`, { maxRedirects: 0 });
  expect(page.status()).toBe(303);
  expect(page.headers()['location']).toBe('/login?next=/%3Fnote%3Droot');
  for (const [name, field] of [['children', 'parent_note_id'], ['note', 'note_id']]) {
    const call = await request.post(`${base()}/ui/${name}`, { form: { [field]: 'root' }, maxRedirects: 0 });
    expect(call.status(), `/ui/${name}`).toBe(401);
    expect(await call.text()).not.toContain('Welcome');
  }
});

test('a wrong password is refused with a clear message; the right one opens the page asked for', async ({ page }) => {
  await page.goto(`${base()}/?note=root`);
  await expect(page).toHaveURL(/\/login\?next=/);
  await page.locator('input[name=password]').fill('not the password');
  await page.locator('button[type=submit]').click();
  await expect(page.locator('.auth-error')).toHaveText('Wrong password.');
  await page.locator('input[name=password]').fill(password());
  await page.locator('button[type=submit]').click();
  await expect(page).toHaveURL(`${base()}/?note=root`);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  expect((await csrfToken(page)).length).toBe(43);
  const cookies = await page.context().cookies(base());
  expect(cookies).toHaveLength(1);
  expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/', secure: false, expires: -1 });
});

test('the page\'s logout button ends the session', async ({ page }) => {
  await login(page);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(`${base()}/login`);
  await page.goto(`${base()}/`);
  await expect(page).toHaveURL(`${base()}/login`);
  expect(await page.context().cookies(base())).toHaveLength(0);
});

test('logout needs the session\'s token', async ({ page }) => {
  await login(page);
  const forged = await page.request.post(`${base()}/logout`, { form: { csrf_token: 'forged' }, maxRedirects: 0 });
  expect(forged.status()).toBe(403);
  await page.goto(`${base()}/`);
  await expect(page.locator('.layout')).toBeVisible();
  expect((await csrfToken(page)).length).toBe(43);
});

/** Serves `html` as a page of another site (its own origin; nothing leaves the machine). */
const evilOrigin = 'http://evil.test';

test('a cross-site form post is refused', async ({ page }) => {
  await login(page);
  await page.context().route(`${evilOrigin}/**`, (route) =>
    route.fulfill({
      contentType: 'text/html',
      body: `<!DOCTYPE html><html><body>
        <form id="logout" method="post" action="${base()}/logout"><input name="csrf_token" value="guess"></form>
        <form id="call" method="post" action="${base()}/ui/children"><input name="parent_note_id" value="root"></form>
        <form id="login" method="post" action="${base()}/login"><input name="password" value="${password()}"></form>
      </body></html>`,
    }),
  );
  // SameSite=Lax keeps the cookie off a cross-site post (so the call is anonymous: 401, and the logout
  // finds no session to end: 303 to the login); were it sent, the missing CSRF token would be 403. The
  // login form has no session to protect it: its Origin check refuses it (403).
  for (const [form, refused] of [['call', [401, 403]], ['logout', [303, 403]], ['login', [403]]] as const) {
    const evil = await page.context().newPage();
    await evil.goto(`${evilOrigin}/`);
    const [response] = await Promise.all([
      evil.waitForResponse((r) => r.url().startsWith(base()) && r.request().method() === 'POST'),
      evil.locator(`#${form}`).evaluate((f: HTMLFormElement) => f.submit()),
    ]);
    expect(refused, `${form}: ${response.status()}`).toContain(response.status());
    expect(response.headers()['set-cookie'] ?? '', form).toBe('');
    await evil.close();
  }
  // The session survived the forged logout, and the forged login opened no other one.
  await page.goto(`${base()}/`);
  await expect(page).toHaveURL(`${base()}/`);
  expect(await page.context().cookies(base())).toHaveLength(1);
});
