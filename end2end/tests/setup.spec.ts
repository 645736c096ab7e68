// The setup page of a new, empty instance (a real `canopy` on an empty data directory), "sync from a
// server" against a real hub instance on the Trilium fixture with the first sync's progress in the
// page, and the sync options page: save, "test sync" against the hub and a dead port, and a
// config.ini host shown as the one that wins.
import { expect, test, type Page } from '@playwright/test';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { freePort, loginAt, manifest, startEmptyInstance, startFixtureInstance, watch, type Instance } from './helpers';

/** Notes added to the hub so that the first sync takes more than one page (1,000 changes each). */
const EXTRA_NOTES = 400;

let hub: Instance;
let slowLink: Server;
let slowLinkUrl: string;

/**
 * A slow network between the new instance and the hub: a plain HTTP forwarder that holds every page
 * of changes for 1.5 s, so that the page has time to show the pull's progress. The data is the hub's.
 */
function startSlowLink(target: string): Promise<string> {
  const { hostname, port } = new URL(target);
  slowLink = createServer((req, res) => {
    const delay = req.url?.startsWith('/api/sync/changed') ? 1500 : 0;
    setTimeout(() => {
      const upstream = httpRequest({ host: hostname, port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    }, delay);
  });
  return new Promise((ok) => slowLink.listen(0, '127.0.0.1', () => {
    const address = slowLink.address();
    ok(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
  }));
}

test.beforeAll(async ({ request }) => {
  test.setTimeout(120_000);
  hub = await startFixtureInstance('setup-hub', '[General]\nnoBackup=true\n');
  const login = await request.post(`${hub.base}/etapi/auth/login`, { data: { password: manifest.password } });
  expect(login.status()).toBe(201);
  const headers = { Authorization: (await login.json()).authToken };
  for (let i = 0; i < EXTRA_NOTES; i++) {
    const created = await request.post(`${hub.base}/etapi/create-note`, {
      headers,
      data: { parentNoteId: 'root', title: `Bulk note ${i}`, type: 'text', content: `<p>bulk ${i}</p>` },
    });
    expect(created.status()).toBe(201);
  }
  slowLinkUrl = await startSlowLink(hub.base);
});

test.afterAll(async () => {
  await new Promise((done) => (slowLink ? slowLink.close(done) : done(undefined)));
  await hub?.stop();
});

async function openSyncOptions(page: Page, base: string) {
  await page.goto(`${base}/`);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  await page.locator('header.pane-bar a.options-link').click();
  await expect(page).toHaveURL(`${base}/options/sync`);
  await expect(page.locator('.sync-options')).toBeVisible();
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
}

test('a new instance offers setup, syncs from a hub with progress in the page, then its options test the hub', async ({ page }) => {
  test.setTimeout(120_000);
  const fresh = await startEmptyInstance('empty');
  try {
    const watched = watch(page);
    await page.goto(`${fresh.base}/`);
    await expect(page).toHaveURL(`${fresh.base}/setup`);
    await expect(page.getByRole('heading', { name: 'Set up Canopy' })).toBeVisible();

    // A wrong password: the hub's refusal, and the page stays.
    await page.locator('input[name=sync_server_host]').fill(hub.base);
    await page.locator('input[name=password]').fill('not the password');
    await page.getByRole('button', { name: 'Sync from the server' }).click();
    await expect(page.locator('.auth-error')).toContainText('Incorrect password');

    const progress: { pulled: number; total: number; secondsLeft: number | null; initialized: boolean }[] = [];
    page.on('response', async (r) => {
      if (r.url().endsWith('/api/setup/progress')) progress.push(await r.json().catch(() => ({})));
    });
    await page.locator('input[name=sync_server_host]').fill(slowLinkUrl);
    await page.locator('input[name=password]').fill(manifest.password);
    await page.getByRole('button', { name: 'Sync from the server' }).click();
    await expect(page).toHaveURL(`${fresh.base}/setup/progress`);
    await expect(page.getByRole('heading', { name: 'First sync' })).toBeVisible();
    await expect(page.locator('#setup-count')).toContainText(/[\d,]+ of [\d,]+ changes pulled/, { timeout: 30_000 });
    await page.screenshot({ path: 'screenshots/setup-progress.png' });

    // Done: the login, with the hub's password, and the hub's tree.
    await expect(page).toHaveURL(/\/login/, { timeout: 60_000 });
    const counted = progress.filter((p) => p.total > 0);
    expect(counted.length, 'the page saw the pull under way').toBeGreaterThan(0);
    const last = counted[counted.length - 1];
    expect(last.total).toBeGreaterThan(1000);
    expect(counted.some((p) => p.pulled < p.total && p.secondsLeft !== null), 'a time left while pages were outstanding').toBe(true);
    await loginAt(page, fresh.base, manifest.password);
    await expect(page.locator('nav.tree')).toContainText('Bulk note 0');

    // Its sync options: the hub (through the slow link) from the setup, and "test sync" works.
    await openSyncOptions(page, fresh.base);
    const host = page.locator('input[name=syncServerHost]');
    await expect(host).toHaveValue(slowLinkUrl);
    await expect(host).not.toHaveAttribute('readonly');
    await page.getByRole('button', { name: 'Test sync' }).click();
    await expect(page.locator('.options-test-message')).toContainText(`Logged in to the sync server ${slowLinkUrl}`, { timeout: 30_000 });
    await expect(page.locator('.options-test-message')).toHaveClass(/options-ok/);

    // A saved host that nothing listens on: saved (the engine moves to it at once), and the test names
    // the failure.
    const dead = `http://127.0.0.1:${await freePort()}`;
    await host.fill(dead);
    await page.locator('input[name=syncServerTimeout]').fill('5000');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect(page.locator('.options-save-message')).toHaveText('Saved.');
    await page.getByRole('button', { name: 'Test sync' }).click();
    await expect(page.locator('.options-test-message')).toContainText(`Sync with ${dead} failed: No connection to sync server`);
    await expect(page.locator('.options-test-message')).toHaveClass(/options-error/);
    await page.screenshot({ path: 'screenshots/options-sync.png' });

    // A bad address is refused with the reason, and the saved one stays.
    await host.fill('ftp://hub.example');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect(page.locator('.options-save-message')).toContainText('must start with http:// or https://');
    await page.reload();
    await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
    await expect(page.locator('input[name=syncServerHost]')).toHaveValue(dead);
    const engineHost = async () => (await (await page.request.get(`${fresh.base}/api/canopy/sync-status`)).json()).syncServerHost;
    expect(await engineHost(), 'the engine syncs with the saved host').toBe(dead);

    // Emptied and saved: the engine stops, without a restart.
    await page.locator('input[name=syncServerHost]').fill('');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect(page.locator('.options-save-message')).toHaveText('Saved.');
    expect(await engineHost(), 'no engine runs').toBeNull();
    await page.reload();
    await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
    await expect(page.locator('input[name=syncServerHost]')).toHaveValue('');
    // Every request stayed here; the only errors logged are the refusals this test asked for.
    for (const url of watched.requests) expect(new URL(url).hostname, url).toBe('127.0.0.1');
    expect(watched.errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
  } finally {
    await fresh.stop();
  }
});

test('a host from config.ini wins and the page says so', async ({ page }) => {
  test.setTimeout(60_000);
  const configured = `http://127.0.0.1:${await freePort()}`;
  const instance = await startFixtureInstance('configured', `[General]\nnoBackup=true\n[Sync]\nsyncServerHost=${configured}\n`);
  try {
    await loginAt(page, instance.base, manifest.password);
    await openSyncOptions(page, instance.base);
    const host = page.locator('input[name=syncServerHost]');
    await expect(host).toHaveValue(configured);
    await expect(host).toHaveAttribute('readonly', '');
    await expect(page.locator('.options-field').filter({ has: host })).toContainText('Set in config.ini: this value wins');
    // The timeout is not in config.ini: still editable here.
    await expect(page.locator('input[name=syncServerTimeout]')).not.toHaveAttribute('readonly');
    await page.getByRole('button', { name: 'Test sync' }).click();
    await expect(page.locator('.options-test-message')).toContainText(`Sync with ${configured} failed: No connection`);
  } finally {
    await instance.stop();
  }
});
