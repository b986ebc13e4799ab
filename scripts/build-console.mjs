// Builds the console's page into dist/console/ (or --out DIR): compiles src/console with
// tsconfig.console.json into a staging directory, keeps only the console's own modules (src/api/contract.ts
// is imported for types only and must not be loaded by the browser), and copies src/console/static/.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = path.resolve(outAt >= 0 && args[outAt + 1] ? args[outAt + 1] : path.join(root, 'dist/console'));

const staging = mkdtempSync(path.join(tmpdir(), 'kisflow-console-'));
try {
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
  const res = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.console.json'), '--outDir', staging], { stdio: 'inherit' });
  if (res.status !== 0) process.exit(res.status ?? 1);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  cpSync(path.join(staging, 'console'), out, { recursive: true });
  // Only emitted JavaScript goes out; anything else under console/ in the staging dir would be a surprise.
  const check = (dir) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) check(full);
      else if (!name.endsWith('.js')) throw new Error(`unexpected build output ${full}`);
    }
  };
  check(out);
  cpSync(path.join(root, 'src/console/static'), out, { recursive: true });
}
finally {
  rmSync(staging, { recursive: true, force: true });
}
