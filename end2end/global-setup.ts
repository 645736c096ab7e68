// Starts one real Canopy instance on 127.0.0.1 with a fresh data directory for the whole suite.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? ok(address.port) : fail(new Error('no port'))));
    });
  });
}

export default async function globalSetup() {
  const bin = resolve(process.env.CANOPY_BIN ?? '../target/debug/canopy');
  const siteRoot = resolve(process.env.CANOPY_SITE_ROOT ?? '../target/site');
  const dataDir = mkdtempSync(join(tmpdir(), 'canopy-e2e-'));
  const port = await freePort();
  const child = spawn(bin, ['--site-root', siteRoot], {
    env: { ...process.env, TRILIUM_DATA_DIR: dataDir, TRILIUM_HOST: '127.0.0.1', TRILIUM_PORT: String(port), RUST_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`canopy did not start in 30 s:\n${log}`)), 30_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      const match = /listening on (http:\/\/[0-9.:]+)/.exec(log);
      if (match) {
        clearTimeout(timer);
        ok(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`canopy exited with ${code}:\n${log}`));
    });
  });
  process.env.CANOPY_URL = url;
  return async () => {
    child.kill('SIGTERM');
    await new Promise((done) => child.once('exit', done));
    rmSync(dataDir, { recursive: true, force: true });
  };
}
