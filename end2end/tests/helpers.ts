// Shared by the spec files: the suite's instance, logging in, and extra instances on the fixture.
import { expect, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

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
  await loginAt(page, base(), password(), next);
}

/** `login` on any instance: the one at `url` with its document's `secret`. */
export async function loginAt(page: Page, url: string, secret: string, next = '/'): Promise<void> {
  await page.goto(`${url}/login?next=${encodeURIComponent(next)}`);
  await page.locator('input[name=password]').fill(secret);
  await page.locator('button[type=submit]').click();
  await expect(page).toHaveURL(`${url}${next}`);
}

/** The CSRF token the server rendered into the page. */
export async function csrfToken(page: Page): Promise<string> {
  const token = await page.locator('meta[name=csrf-token]').getAttribute('content');
  expect(token, 'the page carries a CSRF token').toBeTruthy();
  return token!;
}

/** A free TCP port on 127.0.0.1 (the instance binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? ok(address.port) : fail(new Error('no port'))));
    });
  });
}

/** Resolves with the URL once the instance says it listens; rejects if it exits or takes 30 s. */
export function listening(child: ChildProcess): Promise<string> {
  let log = '';
  return new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`canopy did not start in 30 s:\n${log}`)), 30_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      const match = /listening on (http:\/\/[0-9.:]+)/.exec(log);
      if (match) {
        clearTimeout(timer);
        ok(match[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    // After `ok`, a later (wanted) exit changes nothing: a settled promise stays settled.
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`canopy exited with ${code}:\n${log}`));
    });
  });
}

// The repository's copy of the fixture (server/tests/fixtures), or CANOPY_TRILIUM_FIXTURES.
export const fixtureDir = resolve(process.env.CANOPY_TRILIUM_FIXTURES ?? '../server/tests/fixtures/trilium-0.63.7');
export const manifest = JSON.parse(readFileSync(join(fixtureDir, 'manifest.json'), 'utf8'));
/** A fixture note's id by its title, from the manifest. */
export const fixtureNoteId = (title: string): string => manifest.notes[title];

/** An extra instance beside the suite's own, on its own data directory. */
export interface Instance {
  base: string;
  dataDir: string;
  /** Everything it has logged so far. */
  log(): string;
  /** Resolves once its log matches `pattern`; rejects after `ms`. */
  waitForLog(pattern: RegExp, ms: number): Promise<void>;
  /** SIGTERM, wait for the exit, remove the data directory. */
  stop(): Promise<void>;
}

/**
 * Starts `canopy` (CANOPY_BIN, CANOPY_SITE_ROOT) on a free port with a new data directory holding a
 * copy of the fixture document and, if given, a `config.ini`.
 */
export async function startFixtureInstance(name: string, configIni?: string): Promise<Instance> {
  return startInstance(name, (dataDir) => {
    copyFileSync(join(fixtureDir, 'document.db'), join(dataDir, 'document.db'));
    if (configIni !== undefined) writeFileSync(join(dataDir, 'config.ini'), configIni);
  });
}

/** `canopy` on a new, empty data directory: it serves the setup page. */
export async function startEmptyInstance(name: string): Promise<Instance> {
  return startInstance(name, () => {});
}

async function startInstance(name: string, prepare: (dataDir: string) => void): Promise<Instance> {
  const dataDir = mkdtempSync(join(tmpdir(), `canopy-e2e-${name}-`));
  prepare(dataDir);
  const bin = resolve(process.env.CANOPY_BIN ?? '../target/debug/canopy');
  const siteRoot = resolve(process.env.CANOPY_SITE_ROOT ?? '../target/site');
  const child = spawn(bin, ['--site-root', siteRoot], {
    env: { ...process.env, TRILIUM_DATA_DIR: dataDir, TRILIUM_HOST: '127.0.0.1', TRILIUM_PORT: String(await freePort()), RUST_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const collect = (chunk: Buffer) => (log += chunk.toString());
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  let base: string;
  try {
    base = await listening(child);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    base,
    dataDir,
    log: () => log,
    waitForLog: (pattern, ms) =>
      new Promise<void>((ok, fail) => {
        const check = () => {
          if (pattern.test(log)) {
            clearTimeout(timer);
            child.stdout!.off('data', check);
            child.stderr!.off('data', check);
            ok();
          }
        };
        const timer = setTimeout(() => {
          child.stdout!.off('data', check);
          child.stderr!.off('data', check);
          fail(new Error(`${name}: no ${pattern} in ${ms} ms:\n${log}`));
        }, ms);
        child.stdout!.on('data', check);
        child.stderr!.on('data', check);
        check();
      }),
    stop,
  };
}

/** What a page asked for and complained about. */
export type Watched = { requests: string[]; errors: string[] };

export function watch(page: Page): Watched {
  const watched: Watched = { requests: [], errors: [] };
  page.on('request', (r) => watched.requests.push(r.url()));
  page.on('pageerror', (e) => watched.errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && watched.errors.push(m.text()));
  return watched;
}

/** Every request stayed on 127.0.0.1 and nothing was logged as an error. */
export function expectClean(watched: Watched) {
  expect(watched.requests.length).toBeGreaterThan(0);
  for (const url of watched.requests) expect(new URL(url).hostname, url).toBe('127.0.0.1');
  expect(watched.errors).toEqual([]);
}
