// Starts one real Canopy instance on 127.0.0.1 with a fresh data directory for the whole suite. The
// document gets a password first (`canopy --set-password`), so the tests log in as a user does.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, listening } from './tests/helpers';

/** The document's password in the suite; `login()` in tests/helpers.ts reads it from here. */
export const PASSWORD = 'e2e-password';

function start(bin: string, siteRoot: string, env: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
  return spawn(bin, ['--site-root', siteRoot], { env, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcessWithoutNullStreams;
}

export default async function globalSetup() {
  const bin = resolve(process.env.CANOPY_BIN ?? '../target/debug/canopy');
  const siteRoot = resolve(process.env.CANOPY_SITE_ROOT ?? '../target/site');
  const dataDir = mkdtempSync(join(tmpdir(), 'canopy-e2e-'));
  const port = await freePort();
  const env = { ...process.env, TRILIUM_DATA_DIR: dataDir, TRILIUM_HOST: '127.0.0.1', TRILIUM_PORT: String(port), RUST_LOG: 'info' };
  // A first start on the empty directory (it serves the setup page; stopping it makes nothing), then
  // `--set-password`, which makes the document with its welcome notes and sets its password.
  const first = start(bin, siteRoot, env);
  await listening(first);
  first.kill('SIGTERM');
  await new Promise((done) => first.once('exit', done));
  const setPassword = spawnSync(bin, ['--set-password'], { env: { ...env, CANOPY_PASSWORD: PASSWORD }, encoding: 'utf8' });
  if (setPassword.status !== 0) {
    throw new Error(`canopy --set-password failed:\n${setPassword.stdout}${setPassword.stderr}`);
  }
  const child = start(bin, siteRoot, env);
  const url = await listening(child);
  process.env.CANOPY_URL = url;
  process.env.CANOPY_E2E_PASSWORD = PASSWORD;
  return async () => {
    child.kill('SIGTERM');
    await new Promise((done) => child.once('exit', done));
    rmSync(dataDir, { recursive: true, force: true });
  };
}
