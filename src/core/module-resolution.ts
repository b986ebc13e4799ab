// Function modules live in any config directory (a ConfigMap mounted at /etc/kisflow, a copy in /tmp), with no
// node_modules of their own. A resolve hook lets them import what the service ships: `kisflow` and
// `kisflow/testing` always resolve to the service itself, and a bare specifier that fails from the module's
// own directory is tried again from the service's package (io-ts, fp-ts, jsonata, ...).
import { existsSync, readFileSync } from 'node:fs';
import module from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Plain JavaScript, registered as a data: URL so that it loads the same from src/ (tsx) and from dist/.
const HOOK = `
let root;
let loader;
let self;
export async function initialize(data) { root = data.root; loader = data.loader; self = data.self; }
const MARK = 'kisflow-esm';
const bare = (s) => !/^(\\.{0,2}\\/|[a-zA-Z][a-zA-Z0-9+.-]*:|#)/.test(s);
const marked = (url) => typeof url === 'string' && url.includes(MARK + '=1');
// A TypeScript file of the config directory (the module, or a file it imports) loads as an ES module
// whatever package.json sits above it, so that its imports go through this hook (require() would not).
function esm(r, parentURL) {
  const entry = typeof parentURL === 'string' && parentURL.split('?')[0] === loader;
  if (!r.url.startsWith('file:') || r.url.includes('/node_modules/') || !(entry || marked(r.url) || marked(parentURL))) return r;
  // tsx may have rewritten the URL for a CommonJS import (its query folded into the path): take the file back.
  const u = new URL(r.url);
  const file = u.pathname.split('%3F')[0];
  if (!/\\.m?ts$/.test(file)) return r;
  const ns = u.searchParams.get('tsx-namespace');
  const out = new URL('file://' + file);
  if (ns) out.searchParams.set('tsx-namespace', ns);
  out.searchParams.set(MARK, '1');
  return { ...r, url: out.href, format: 'module-typescript' };
}
export async function resolve(specifier, context, next) {
  if (Object.hasOwn(self, specifier)) return next(self[specifier], context);
  if (specifier === 'kisflow' || specifier.startsWith('kisflow/')) {
    return next(specifier, { ...context, parentURL: root });
  }
  try {
    return esm(await next(specifier, context), context.parentURL);
  } catch (err) {
    if (!bare(specifier) || err?.code !== 'ERR_MODULE_NOT_FOUND' || context.parentURL === root) throw err;
    try {
      return await next(specifier, { ...context, parentURL: root });
    } catch {
      throw err;
    }
  }
}
`;

let registered = false;

/**
 * `kisflow` and `kisflow/testing` as the files of the running service: src/*.ts when it runs from source
 * (tests, tsx), dist/src/*.js when built; so that a run from source needs no build.
 */
function selfEntries(): Record<string, string> {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const src = path.resolve(path.dirname(here), '..');
  const entries: Record<string, string> = {};
  for (const [name, rel] of [['kisflow', 'index'], ['kisflow/testing', 'testing/index']] as const) {
    const file = path.join(src, rel + ext);
    if (existsSync(file)) entries[name] = pathToFileURL(file).href;
  }
  return entries;
}

/** The directory of the service's own package.json (name kisflow), above this file in src/ or dist/src/. */
export function serviceRoot(from: string = fileURLToPath(import.meta.url)): string | undefined {
  for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'kisflow') return dir;
      } catch {
        // an unreadable package.json on the way up is not ours
      }
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Registers the resolve hook once per process (Node 20.6+; a no-op where module.register is missing). Modules
 * imported with `loaderUrl` as their parent are function modules: they and what they import load as ES modules.
 */
export function registerModuleResolution(loaderUrl: string): void {
  if (registered) return;
  registered = true;
  const root = serviceRoot();
  const register = (module as { register?: (url: string, opts: { data: unknown }) => void }).register;
  if (root === undefined || typeof register !== 'function') return;
  register('data:text/javascript,' + encodeURIComponent(HOOK), {
    data: { root: pathToFileURL(path.join(root, 'package.json')).href, loader: loaderUrl, self: selfEntries() },
  });
}
