// Browser timings on the benchmark's large document: a level of 1,000 children drawn on expanding, and
// the time from the last keystroke in a text note to the page showing "saved". Printed, not asserted.
import { expect, test } from '@playwright/test';
import { login } from '../tests/helpers';

const rounds = Number(process.env.BENCH_ROUNDS ?? '10');

function summary(times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  const p95 = sorted[Math.max(0, Math.ceil(sorted.length * 0.95) - 1)];
  return `median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms, p95 ${p95.toFixed(1)} ms (${sorted.length} rounds)`;
}

test('expanding a level of 1,000 children', async ({ page }) => {
  const wide = process.env.BENCH_WIDE_NOTE!;
  await login(page, '/');
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  const row = page.locator(`li.tree-item[data-note-id="${wide}"]`);
  const toggle = row.locator(':scope > .tree-row .toggle');
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    // Collapse first (the first round finds it collapsed), then time from the click to the last row drawn.
    if ((await toggle.getAttribute('aria-expanded')) === 'true') {
      await toggle.click();
      await expect(row.locator('li.tree-item')).toHaveCount(0);
    }
    const started = await page.evaluate(() => performance.now());
    await toggle.click();
    await expect(row.locator('li.tree-item')).toHaveCount(1000, { timeout: 60_000 });
    times.push((await page.evaluate(() => performance.now())) - started);
  }
  console.log(`BENCH browser: expanding a level of 1,000 children until drawn: ${summary(times)}`);
});

test('last keystroke to saved', async ({ page }) => {
  const note = process.env.BENCH_OPEN_NOTE!;
  await login(page, `/?note=${note}`);
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  const editor = page.locator('.ck-editor__editable_inline');
  await expect(editor).toBeVisible({ timeout: 60_000 });
  const status = page.locator('.save-status');
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await editor.click();
    await page.keyboard.press('End');
    await page.keyboard.type(` edit ${i}`);
    const lastKey = await page.evaluate(() => performance.now());
    // The edit is seen as unsaved first (autosave waits for a pause), then saved.
    await expect(status).not.toHaveAttribute('data-state', 'saved');
    await expect(status).toHaveAttribute('data-state', 'saved', { timeout: 30_000 });
    times.push((await page.evaluate(() => performance.now())) - lastKey);
  }
  console.log(`BENCH browser: last keystroke to "saved" (autosave waits about 1 s by design): ${summary(times)}`);
});
