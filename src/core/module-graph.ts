// The files a config directory's flows depend on: its YAML documents, its function modules, and the files
// those import from inside the directory (followed through relative import specifiers). Hot reload hashes
// exactly these, so a data file or a log written into the directory changes nothing.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { readConfigDir } from '../config/load.js';
import { moduleFiles } from './modules.js';

// import x from './a', export * from './a', import('./a'), require('./a'): relative specifiers only.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(['"])(\.{1,2}\/[^'"]+)\1/g;
const EXTENSIONS = ['', '.ts', '.mts', '.js', '.mjs', '.cjs', '.json', '/index.ts', '/index.js'];

/** Relative specifiers written in a module's text. */
export function relativeImports(text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((m) => m[2]!);
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() === true;
}

/** The file a relative specifier names, trying the extensions TypeScript and Node allow ('.js' may mean '.ts'). */
async function resolveFile(from: string, spec: string): Promise<string | undefined> {
  const base = path.resolve(path.dirname(from), spec.split('?')[0]!);
  const tries = [...EXTENSIONS.map((e) => base + e), base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts')];
  for (const t of tries) if (await isFile(t)) return t;
  return undefined;
}

/**
 * Every file the config loads, as absolute paths, sorted: the YAML files, the modules listed under
 * `functions:` and, transitively, the files inside `dir` they import.
 */
export async function configFiles(dir: string, functions: readonly string[]): Promise<string[]> {
  const root = path.resolve(dir);
  const files = new Set((await readConfigDir(root)).map((f) => path.join(root, f.file)));
  const queue: string[] = [];
  for (const rel of functions) {
    const found = await moduleFiles(path.resolve(root, rel)).catch(() => [] as string[]);
    queue.push(...found);
  }
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const spec of relativeImports(text)) {
      const target = await resolveFile(file, spec);
      if (target !== undefined && !path.relative(root, target).startsWith('..') && !files.has(target)) queue.push(target);
    }
  }
  return [...files].sort();
}
