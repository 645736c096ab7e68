// `make bench`'s browser part (server/examples/bench.rs starts the instance and passes its address).
import { defineConfig } from '@playwright/test';
import base from '../playwright.config';

export default defineConfig({
  ...base,
  testDir: '.',
  testMatch: /.*\.bench\.ts/,
  globalSetup: undefined,
  timeout: 300_000,
});
