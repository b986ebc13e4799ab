// Data moves one way: a folder of src/ imports from the folders before it in ORDER, never from the ones
// after it, so that a reader finds a row's whole journey by walking the folders in order (docs: STYLE.md,
// "The house"). Every import counts: `import type`, `export ... from`, `import('...')`, side-effect imports.
// Subfolders count as their top folder (src/connectors/kafka/ is connectors). src/index.ts may import anything.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The folders of src/, earliest first. A new folder goes here, at the place its imports allow. */
const ORDER = [
  'kernel', 'config', 'core', 'kafka', 'state', 'functions', 'sources', 'connectors', 'jobs',
  'observability', 'runtime', 'repair', 'api', 'console', 'testing', 'cli',
] as const;

/** The package's entry point: it re-exports from every folder and no folder imports it. */
const ENTRY = 'src/index.ts';

/**
 * Imports against the order that the tree has today, to be removed as they are fixed; each entry is
 * 'importing file -> imported file', both from the repository root. An entry that no longer occurs fails
 * the test, so the list only shrinks. Keep a comment on each entry saying why it is still here.
 */
const ALLOWED: readonly string[] = [
  // (none: main had no import against the order when this test came in)
];

/** Non-relative specifiers that resolve into src/ (tsconfig `paths`); a src/ file must not use them. */
const SELF_PACKAGE: Readonly<Record<string, string>> = {
  kisflow: 'src/index.ts',
  'kisflow/testing': 'src/testing/index.ts',
};

interface SourceFile { readonly path: string; readonly text: string }
interface ImportEdge { readonly from: string; readonly line: number; readonly specifier: string; readonly to: string }

/** Every import of a file, resolved to a repository-relative path (relative and self-package ones only). */
function importsOf(file: SourceFile): ImportEdge[] {
  const info = ts.preProcessFile(file.text, true, true);
  const specs = [...info.importedFiles, ...info.referencedFiles];
  const edges: ImportEdge[] = [];
  for (const spec of specs) {
    let to: string | undefined;
    // NodeNext: './x.js' names the source file './x.ts'.
    if (spec.fileName.startsWith('.')) to = path.posix.normalize(path.posix.join(path.posix.dirname(file.path), spec.fileName)).replace(/\.(m|c)?js$/, '.$1ts');
    else to = SELF_PACKAGE[spec.fileName];
    if (to === undefined) continue; // a package: not ours to order
    const line = file.text.slice(0, spec.pos).split('\n').length;
    edges.push({ from: file.path, line, specifier: spec.fileName, to });
  }
  return edges;
}

/** The top folder of a path under src/ ('src/connectors/kafka/x.ts' -> 'connectors'); a file right in src/ -> its name. */
function topOf(p: string): string {
  return p.split('/')[1] ?? p;
}

/** What is wrong with the imports of these files, one message per problem, naming file:line and import. */
function violations(files: readonly SourceFile[], allowed: readonly string[] = []): string[] {
  const order: readonly string[] = ORDER;
  const problems: string[] = [];
  const unknown = new Set<string>();
  const used = new Set<string>();
  for (const file of files) {
    if (file.path !== ENTRY) {
      const top = topOf(file.path);
      if (file.path.split('/').length === 2) problems.push(`${file.path}: a file right in src/ (only ${ENTRY} may be there); move it into a folder`);
      else if (!order.includes(top)) unknown.add(top);
    }
    for (const edge of importsOf(file)) {
      const at = `${edge.from}:${edge.line} imports '${edge.specifier}'`;
      if (!edge.to.startsWith('src/')) {
        problems.push(`${at}: src/ imports only from src/ and packages, not from ${edge.to.split('/')[0]}/ (${edge.to})`);
        continue;
      }
      if (edge.from === ENTRY) continue;
      const from = topOf(edge.from);
      const to = topOf(edge.to);
      if (from === to) continue;
      const key = `${edge.from} -> ${edge.to}`;
      if (allowed.includes(key)) { used.add(key); continue; }
      if (edge.to === ENTRY) { problems.push(`${at}: ${ENTRY} is the package's entry; import the module itself`); continue; }
      const i = order.indexOf(from);
      const j = order.indexOf(to);
      if (i < 0 || j < 0) continue; // reported once below as an unknown folder
      if (j > i) problems.push(`${at}: ${from}/ may not import from ${to}/, which comes later in the folder order (${ORDER.join(', ')})`);
    }
  }
  for (const top of [...unknown].sort()) {
    problems.push(`src/${top}/ is not in the folder order: add '${top}' to ORDER in test/architecture/folder-order.test.ts, after the folders it imports from and before those that import it`);
  }
  for (const key of allowed) {
    if (!used.has(key)) problems.push(`ALLOWED lists '${key}', which no longer occurs: remove it from the list`);
  }
  return problems;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function sourceFiles(dir: string): SourceFile[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) return sourceFiles(rel);
      if (!/\.(ts|mts|cts|tsx)$/.test(entry.name)) return [];
      return [{ path: rel, text: readFileSync(path.join(ROOT, rel), 'utf8') }];
    });
}

/**
 * The console's page code (src/console) is loaded by the browser module by module, unbundled: it may import
 * its own modules and, for types only (erased by tsc), the API contract; never a package or other src/ code.
 */
function consoleImportProblems(files: readonly SourceFile[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    const sf = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      let spec: string | undefined;
      let typeOnly = false;
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        spec = node.moduleSpecifier.text;
        const clause = node.importClause;
        typeOnly = clause !== undefined && (clause.isTypeOnly
          || (clause.name === undefined && clause.namedBindings !== undefined && ts.isNamedImports(clause.namedBindings)
            && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      }
      else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        spec = node.moduleSpecifier.text;
        typeOnly = node.isTypeOnly;
      }
      else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
        spec = node.arguments[0].text;
      }
      if (spec !== undefined) {
        const line = sf.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        const at = `${file.path}:${line} imports '${spec}'`;
        if (!spec.startsWith('.')) problems.push(`${at}: the console loads no package (no bundler)`);
        else if (!spec.endsWith('.js')) problems.push(`${at}: the browser needs the '.js' specifier`);
        else {
          const to = path.posix.normalize(path.posix.join(path.posix.dirname(file.path), spec)).replace(/\.js$/, '.ts');
          if (!to.startsWith('src/console/')) {
            if (to !== 'src/api/contract.ts') problems.push(`${at}: the console imports only its own modules and src/api/contract.ts`);
            else if (!typeOnly) problems.push(`${at}: the contract is imported with \`import type\` only (the browser never loads it)`);
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return problems;
}

describe('folder order', () => {
  test('every import in src/ goes to its own folder or an earlier one, and none leaves src/', () => {
    const files = sourceFiles('src');
    // A walk that found nothing would pass vacuously.
    assert.ok(files.length > 50, `only ${files.length} files found under src/`);
    assert.ok(files.flatMap(importsOf).length > 100, 'too few imports found: is the parser reading the files?');
    const problems = violations(files, ALLOWED);
    assert.deepEqual(problems, [], `imports against the folder order:\n  ${problems.join('\n  ')}`);
  });

  test('the check catches each kind of import that goes against the order', () => {
    const files: SourceFile[] = [
      { path: 'src/index.ts', text: `export * from './cli/main.js';\n` },
      { path: 'src/kernel/a.ts', text: `import type { X } from '../core/flow.js';\n` },
      { path: 'src/config/b.ts', text: `// import '../runtime/app.js' in a comment does not count\nexport { y } from '../state/s.js';\nconst s = "import '../cli/main.js'";\n` },
      { path: 'src/core/c.ts', text: `const m = await import('../runtime/app.js');\ntype T = import('../api/x.js').T;\n` },
      { path: 'src/state/d.ts', text: `import '../../test/helpers.js';\nimport { b } from '../../bench/common.js';\nimport { k } from '../kernel/k.js';\nimport { s } from './s.js';\n` },
      { path: 'src/connectors/kafka/e.ts', text: `import { t } from '../embedded/transport.js';\nimport { src } from '../../sources/kafka/kafka-source.js';\nimport { r } from '../../runtime/service.js';\n` },
      { path: 'src/widgets/f.ts', text: `import { k } from '../kernel/k.js';\n` },
      { path: 'src/loose.ts', text: '' },
      { path: 'src/runtime/g.ts', text: `import { run } from 'kisflow';\nimport { x } from '../widgets/f.js';\n` },
      { path: 'src/sources/h.ts', text: `import { f } from '../connectors/x.js';\n` },
    ];
    const problems = violations(files, ['src/sources/h.ts -> src/connectors/x.ts', 'src/core/gone.ts -> src/cli/main.ts']);
    const expected = [
      `src/kernel/a.ts:1 imports '../core/flow.js': kernel/ may not import from core/`,
      `src/config/b.ts:2 imports '../state/s.js': config/ may not import from state/`,
      `src/core/c.ts:1 imports '../runtime/app.js': core/ may not import from runtime/`,
      `src/core/c.ts:2 imports '../api/x.js': core/ may not import from api/`,
      `src/state/d.ts:1 imports '../../test/helpers.js': src/ imports only from src/ and packages, not from test/`,
      `src/state/d.ts:2 imports '../../bench/common.js': src/ imports only from src/ and packages, not from bench/`,
      `src/connectors/kafka/e.ts:3 imports '../../runtime/service.js': connectors/ may not import from runtime/`,
      `src/loose.ts: a file right in src/`,
      `src/runtime/g.ts:1 imports 'kisflow': src/index.ts is the package's entry`,
      `src/widgets/ is not in the folder order: add 'widgets' to ORDER`,
      `ALLOWED lists 'src/core/gone.ts -> src/cli/main.ts', which no longer occurs`,
    ];
    assert.equal(problems.length, expected.length, problems.join('\n'));
    problems.forEach((p, i) => assert.ok(p.startsWith(expected[i]!), `problem ${i}:\n  got      ${p}\n  expected ${expected[i]}...`));
  });

  test('the console imports only its own modules, and the contract for types only', () => {
    const files = sourceFiles('src/console');
    assert.ok(files.length > 5, `only ${files.length} files found under src/console/`);
    assert.deepEqual(consoleImportProblems(files), []);
    const bad: SourceFile[] = [{
      path: 'src/console/x.ts',
      text: `import { ROLES } from '../api/contract.js';\nimport type { Me } from '../api/contract.js';\nimport { type Graph } from '../api/contract.js';\nimport { x } from '../runtime/app.js';\nimport { y } from 'yaml';\nimport { z } from './z';\nimport { w } from './w.js';\n`,
    }];
    assert.deepEqual(consoleImportProblems(bad).map((p) => p.split(': ')[0]), [
      `src/console/x.ts:1 imports '../api/contract.js'`,
      `src/console/x.ts:4 imports '../runtime/app.js'`,
      `src/console/x.ts:5 imports 'yaml'`,
      `src/console/x.ts:6 imports './z'`,
    ]);
  });
});
