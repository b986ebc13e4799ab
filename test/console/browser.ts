// Starts Debian's Chromium (test/infra/chromium/ensure-deps.sh installs it when missing) through
// playwright-core, headless, with a fresh profile (playwright's launch makes a new temporary user-data dir
// each time); never a browser playwright downloads. Screenshots go to a temporary directory, never into
// the repository.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ENSURE_DEPS = path.join(HERE, '../infra/chromium/ensure-deps.sh');

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
  '--no-first-run', '--disable-component-update', '--disable-sync',
];

function ensureChromium(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [ENSURE_DEPS], { timeout: 15 * 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`chromium: ensure-deps.sh failed (${err.message.split('\n')[0]})\n${stderr}`));
      const bin = stdout.trim().split('\n').pop();
      if (!bin) return reject(new Error(`chromium: ensure-deps.sh printed no path\n${stderr}`));
      resolve(bin);
    });
  });
}

export interface ConsoleBrowser {
  readonly browser: Browser;
  /** Where this run's screenshots are (a fresh temporary directory). */
  readonly shotsDir: string;
  /** A page in a context of its own (its own cookies: one signed-in user each). */
  newPage(): Promise<Page>;
  /** Saves a full-page screenshot as <shotsDir>/<name>.png and returns its path. */
  shot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<ConsoleBrowser> {
  const executablePath = await ensureChromium();
  const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  const shotsDir = mkdtempSync(path.join(tmpdir(), 'kisflow-console-shots-'));
  const contexts: BrowserContext[] = [];
  return {
    browser,
    shotsDir,
    async newPage() {
      const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
      contexts.push(context);
      return context.newPage();
    },
    async shot(page, name) {
      const file = path.join(shotsDir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
    },
  };
}
