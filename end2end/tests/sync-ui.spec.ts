// Sync made visible: the status indicator and the notices, on real instances (a hub and two clients
// as real processes on copies of the Trilium 0.63.7 fixture). The hub is stopped and started again on
// the same address and data directory to make an offline phase, and with it a conflict, deterministic.
import { expect, test, type Page } from '@playwright/test';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  expectClean,
  fixtureDir,
  fixtureNoteId,
  freePort,
  listening,
  loginAt,
  manifest,
  startFixtureInstance,
  watch,
  type Instance,
} from './helpers';

test.describe.configure({ mode: 'serial' });

/** A hub that can be stopped and started again on the same port and data directory. */
class RestartableHub {
  child?: ChildProcess;
  base = '';
  constructor(readonly dataDir: string, readonly port: number) {}

  static async create(name: string, prepare?: (documentPath: string) => void): Promise<RestartableHub> {
    const dataDir = mkdtempSync(join(tmpdir(), `canopy-e2e-${name}-`));
    copyFileSync(join(fixtureDir, 'document.db'), join(dataDir, 'document.db'));
    writeFileSync(join(dataDir, 'config.ini'), '[General]\nnoBackup=true\n');
    prepare?.(join(dataDir, 'document.db'));
    const hub = new RestartableHub(dataDir, await freePort());
    await hub.start();
    return hub;
  }

  async start() {
    const bin = resolve(process.env.CANOPY_BIN ?? '../target/debug/canopy');
    const siteRoot = resolve(process.env.CANOPY_SITE_ROOT ?? '../target/site');
    this.child = spawn(bin, ['--site-root', siteRoot], {
      env: { ...process.env, TRILIUM_DATA_DIR: this.dataDir, TRILIUM_HOST: '127.0.0.1', TRILIUM_PORT: String(this.port), RUST_LOG: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.base = await listening(this.child);
  }

  /** Gone at once, as a crashed hub or a lost network is (SIGTERM would wait for the clients' long polls). */
  async kill() {
    await this.stop('SIGKILL');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill(signal);
      await exited;
    }
  }

  async remove() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

const clientConfig = (hub: string) => `[General]\nnoBackup=true\n[Sync]\nsyncServerHost=${hub}\n`;
const instanceId = (instance: Instance) => readFileSync(join(instance.dataDir, 'instance-id'), 'utf8').trim();

/** Opens a note and waits until its editor has replaced the server-rendered view. */
async function openNote(page: Page, url: string, id: string) {
  await page.goto(`${url}/?note=${id}`);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true', { timeout: 15_000 });
  await expect(page.locator('.note-body.editing')).toBeVisible();
}

/** Types `text` at the end of the open text note and waits for its save. */
async function typeAtEnd(page: Page, text: string) {
  await page.locator('.ck-editor__editable_inline p').last().click();
  await page.keyboard.press('End');
  await page.keyboard.type(text);
  await expect(page.locator('.save-status[data-state=saved]')).toBeVisible({ timeout: 10_000 });
}

const indicator = (page: Page) => page.locator('header.pane-bar .sync-indicator');

/** Records every `data-state` the indicator takes from now on (the element is re-rendered, so the
 * pane bar is observed). */
async function recordStates(page: Page) {
  await page.evaluate(() => {
    const w = window as unknown as { syncStates: string[] };
    w.syncStates = [];
    const bar = document.querySelector('header.pane-bar')!;
    const note = () => {
      const state = bar.querySelector('.sync-indicator')?.getAttribute('data-state');
      if (state && w.syncStates[w.syncStates.length - 1] !== state) w.syncStates.push(state);
    };
    note();
    new MutationObserver(note).observe(bar, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
  });
}

const recordedStates = (page: Page) => page.evaluate(() => (window as unknown as { syncStates: string[] }).syncStates);

async function noteText(base: string, id: string): Promise<string> {
  const login = await fetch(`${base}/etapi/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ password: manifest.password }),
  });
  expect(login.status).toBe(201);
  const token = ((await login.json()) as { authToken: string }).authToken;
  const content = await fetch(`${base}/etapi/notes/${id}/content`, { headers: { Authorization: token } });
  expect(content.status).toBe(200);
  return content.text();
}

test.describe('a hub and two clients', () => {
  let hub: RestartableHub;
  let a: Instance;
  let b: Instance;

  test.beforeAll(async () => {
    test.setTimeout(90_000);
    hub = await RestartableHub.create('syncui-hub');
    a = await startFixtureInstance('syncui-a', clientConfig(hub.base));
    b = await startFixtureInstance('syncui-b', clientConfig(hub.base));
    await a.waitForLog(/Sync connection established with/, 30_000);
    await b.waitForLog(/Sync connection established with/, 30_000);
  });

  test.afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await hub?.remove();
  });

  test('the indicator: connected, unsynced changes while the hub is away (with the notice naming it), in progress, connected', async ({ page }) => {
    test.setTimeout(60_000);
    const watched = watch(page);
    const id = fixtureNoteId('Oaxaca');
    await loginAt(page, a.base, manifest.password);
    await openNote(page, a.base, id);
    await expect(indicator(page)).toHaveAttribute('data-state', 'connected', { timeout: 10_000 });
    await expect(indicator(page)).toHaveAttribute('title', /Connected to the sync server[\s\S]*Last sync: \d{4}-[\s\S]*All local changes are synced/);
    await recordStates(page);

    // The hub goes away; an edit made now cannot be pushed.
    await hub.kill();
    await typeAtEnd(page, ' offline edit');
    await expect(indicator(page)).toHaveAttribute('data-state', 'disconnected-with-changes', { timeout: 15_000 });
    await expect(indicator(page)).toHaveAttribute('title', /local changes? not yet sent/);
    const failure = page.locator('main.note-pane .sync-notices .sync-notice.failure');
    await expect(failure).toHaveAttribute('data-kind', 'unreachable');
    await expect(failure.locator('.what')).toContainText(`the sync server at ${hub.base} cannot be reached`);

    // Back on the same address: a click syncs now.
    await hub.start();
    await indicator(page).click();
    await expect(page.locator('.sync-outcome')).toHaveText('Synced', { timeout: 15_000 });
    await expect(indicator(page)).toHaveAttribute('data-state', 'connected');
    expect(await noteText(hub.base, id)).toContain('offline edit');
    const states = await recordedStates(page);
    expect(states.slice(0, 1)).toEqual(['connected']);
    expect(states).toContain('disconnected-with-changes');
    expect(states.indexOf('in-progress')).toBeGreaterThan(states.indexOf('disconnected-with-changes'));
    expect(states[states.length - 1]).toBe('connected');

    // The failure is over but its notice stays until dismissed, and stays dismissed after a reload.
    await expect(failure.locator('.over')).toHaveText('Sync has worked again since.', { timeout: 10_000 });
    await failure.locator('button.dismiss').click();
    await expect(failure).toHaveCount(0);
    await page.reload();
    await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true', { timeout: 15_000 });
    await expect(page.locator('.sync-notice.failure')).toHaveCount(0);
    expectClean(watched);
  });

  test('a conflicting edit on both clients: the newer text everywhere, the notice on the losing page links to the kept revision', async ({ page, browser }) => {
    test.setTimeout(150_000);
    const started = Date.now();
    const mark = (what: string) => test.info().annotations.push({ type: 'time', description: `${what}: ${Date.now() - started} ms` });
    const id = fixtureNoteId('Guacamole');
    const word = `W${Date.now().toString(36)}`;
    const pageB = await (await browser.newContext()).newPage();
    const watchedB = watch(pageB);
    await loginAt(page, a.base, manifest.password);
    await loginAt(pageB, b.base, manifest.password);
    await openNote(page, a.base, id);
    await openNote(pageB, b.base, id);
    await expect(indicator(page)).toHaveAttribute('data-state', 'connected', { timeout: 10_000 });
    await expect(indicator(pageB)).toHaveAttribute('data-state', 'connected', { timeout: 10_000 });

    // Both edit the note while the hub is away: A first, B later.
    await hub.kill();
    await typeAtEnd(page, ` fromA${word}`);
    await page.waitForTimeout(50);
    await typeAtEnd(pageB, ` fromB${word}`);
    mark('both edited offline');
    await hub.start();
    mark('hub restarted');

    // A's edit reaches the hub first; B's newer one replaces it; A then gets B's.
    await indicator(page).click();
    await expect(page.locator('.sync-outcome')).toHaveText('Synced', { timeout: 15_000 });
    await indicator(pageB).click();
    await expect(pageB.locator('.sync-outcome')).toHaveText('Synced', { timeout: 15_000 });
    await indicator(page).click();
    await expect(page.locator('.sync-outcome')).toHaveText('Synced', { timeout: 15_000 });

    mark('three syncs');
    for (const base of [a.base, b.base, hub.base]) {
      const text = await noteText(base, id);
      expect(text, base).toContain(`fromB${word}`);
      expect(text, base).not.toContain(`fromA${word}`);
    }

    const notice = page.locator('.sync-notice.conflict');
    await expect(notice).toHaveCount(1, { timeout: 10_000 });
    await expect(notice.locator('.what')).toHaveText(
      `Your edit of Guacamole was replaced by a newer one from instance ${instanceId(b)}; your version is kept in its revisions.`,
    );
    const link = notice.locator('a.open-revision');
    const href = await link.getAttribute('href');
    expect(href).toMatch(new RegExp(`^/\\?note=${id}&revision=[0-9A-Za-z]{12}$`));
    // The winner's page has no notice: its edit did not lose.
    await pageB.reload();
    await expect(pageB.locator('.layout')).toHaveAttribute('data-hydrated', 'true', { timeout: 15_000 });
    await expect(indicator(pageB)).toHaveAttribute('data-state', 'connected');
    await expect(pageB.locator('.sync-notice.conflict')).toHaveCount(0);

    // The notice announced the change of the note (ContentChanged); until the note pane reloads on
    // it by itself, a reload shows B's text, and the notice stays.
    await page.reload();
    await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true', { timeout: 15_000 });
    await expect(page.locator('.ck-editor__editable_inline')).toContainText(`fromB${word}`);
    await expect(notice).toHaveCount(1);
    // For the README: the indicator and the conflict notice (the offline phase's failure, seen by
    // the page before the reload, is not shown again: sync works now).
    await expect(page.locator('.sync-notice.failure')).toHaveCount(0);
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: 'screenshots/sync-conflict.png' });

    // The link opens the note (with the revision named, for the revision view).
    await link.click();
    await expect(page).toHaveURL(`${a.base}${href}`);
    await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true', { timeout: 15_000 });
    await expect(page.locator('input.note-title')).toHaveValue('Guacamole');
    expectClean(watchedB);
    await pageB.context().close();
  });
});

test('a hub with a tampered row: the hash-check notice names the sector, and the deep check runs', async ({ page }) => {
  test.setTimeout(90_000);
  const id = fixtureNoteId('Oaxaca');
  // Changed in the hub's document.db behind its back (the hub not running): the note's title, its
  // recorded hash, and a trigger that keeps damaging that hash whatever the hub stores for it, so no
  // repair can make the hub's sector equal the client's.
  const hub = await RestartableHub.create('syncui-tampered', (db) => {
    execFileSync('sqlite3', [
      db,
      `UPDATE notes SET title = 'Changed behind its back' WHERE noteId = '${id}';
       UPDATE entity_changes SET hash = 'tampered0000' WHERE entityName = 'notes' AND entityId = '${id}';
       CREATE TRIGGER damage_on_insert AFTER INSERT ON entity_changes
         WHEN NEW.entityName = 'notes' AND NEW.entityId = '${id}' AND NEW.hash != 'tampered0000'
         BEGIN UPDATE entity_changes SET hash = 'tampered0000' WHERE id = NEW.id; END;
       CREATE TRIGGER damage_on_update AFTER UPDATE ON entity_changes
         WHEN NEW.entityName = 'notes' AND NEW.entityId = '${id}' AND NEW.hash != 'tampered0000'
         BEGIN UPDATE entity_changes SET hash = 'tampered0000' WHERE id = NEW.id; END;`,
    ]);
  });
  const client = await startFixtureInstance('syncui-tampered-client', clientConfig(hub.base));
  try {
    await client.waitForLog(/hash check still fails after 3 repair rounds/, 60_000);
    const watched = watch(page);
    await loginAt(page, client.base, manifest.password);
    const notice = page.locator('main.note-pane .sync-notice.hash-check');
    await expect(notice.locator('.what')).toContainText(`notes/${id[0]}`);
    await expect(notice.locator('.what')).toContainText(`after 3 repair round(s)`);
    await expect(notice.locator('.what')).toContainText(hub.base);
    await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true', { timeout: 15_000 });
    await notice.locator('button.deep-check').click();
    // The client's own rows are intact: the report says the difference is on the hub.
    const report = notice.locator('.deep-check-report');
    await expect(report).toHaveAttribute('data-findings', '0', { timeout: 15_000 });
    await expect(report).toContainText(`the difference is on the sync server (${hub.base})`);
    // The report outlives the status refetches (every 5 s) that rebuild the notices.
    await page.waitForTimeout(6_000);
    await expect(report).toHaveAttribute('data-findings', '0');
    expectClean(watched);
  } finally {
    await client.stop();
    await hub.remove();
  }
});

/** A stand-in for a Trilium hub of another sync protocol version: a real HTTP server answering the two
 * requests a client starts with as Trilium's routes (`api/setup.js` getStatus, `api/login.js` loginSync)
 * do at that version. */
function otherVersionHub(syncVersion: number): Promise<{ base: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      if (req.method === 'GET' && req.url === '/api/setup/status') {
        res.end(JSON.stringify({ isInitialized: true, schemaExists: true, syncVersion }));
      } else if (req.method === 'POST' && req.url === '/api/login/sync') {
        const remote = (JSON.parse(body || '{}') as { syncVersion?: unknown }).syncVersion;
        res.statusCode = 400;
        res.end(JSON.stringify({
          message: `Non-matching sync versions, local is version ${syncVersion}, remote is ${remote}. It is recommended to run same version of Trilium on both sides of sync.`,
        }));
      } else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    ok({ base: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, server });
  }));
}

test('a hub of another sync version: the refusal names both versions', async ({ page }) => {
  test.setTimeout(60_000);
  const other = await otherVersionHub(34);
  const client = await startFixtureInstance('syncui-version', clientConfig(other.base));
  try {
    await client.waitForLog(/sync failed: Could not setup sync since local sync protocol version is 32 while remote is 34/, 30_000);
    await loginAt(page, client.base, manifest.password);
    await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true', { timeout: 15_000 });
    const notice = page.locator('main.note-pane .sync-notice.failure');
    await expect(notice).toHaveAttribute('data-kind', 'version');
    await expect(notice.locator('.what')).toContainText(`the sync server at ${other.base} runs another version`);
    await expect(notice.locator('.what')).toContainText('local sync protocol version is 32 while remote is 34');
    await expect(indicator(page)).toHaveAttribute('data-state', 'disconnected');
  } finally {
    await client.stop();
    other.server.close();
  }
});

test('an unreachable hub: the notice names its address', async ({ page }) => {
  const port = await freePort(); // nothing listens there
  const address = `http://127.0.0.1:${port}`;
  const client = await startFixtureInstance('syncui-unreachable', clientConfig(address));
  try {
    await client.waitForLog(/lost the connection to the sync server: No connection to sync server/, 30_000);
    await loginAt(page, client.base, manifest.password);
    const notice = page.locator('main.note-pane .sync-notice.failure');
    await expect(notice).toHaveAttribute('data-kind', 'unreachable');
    await expect(notice.locator('.what')).toHaveText(`Sync failed: the sync server at ${address} cannot be reached.`);
    await expect(indicator(page)).toHaveAttribute('data-state', 'disconnected');
  } finally {
    await client.stop();
  }
});
