// The built front end (dist/console/ of the package): index.html for the base path and for every
// unknown page path (the page routes on the client), with `%KIS_BASE%` replaced by the base path so
// that its relative URLs work behind a path prefix; other files by name with their MIME type.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { serviceRoot } from '../../core/module-resolution.js';
import { fileURLToPath } from 'node:url';
import { SECURITY_HEADERS } from './respond.js';

const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The folder of the package.json named kisflow above `from` (default: this module; the source tree under tsx, dist/ once built). */
export function packageRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string | undefined {
  return serviceRoot(path.join(from, 'x'));
}

export function defaultConsoleDir(): string | undefined {
  const root = packageRoot();
  return root === undefined ? undefined : path.join(root, 'dist', 'console');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const MISSING = (base: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>KisFlow console</title></head>
<body><h1>KisFlow console</h1><p>The console's page is not built. Run <code>npm run build</code> in the KisFlow package, then reload.
The JSON API answers under <a href="${escapeHtml(base)}api/openapi.json">api/</a>.</p></body></html>
`;

export class StaticFiles {
  private readonly root: string | undefined;

  constructor(dir: string | undefined, private readonly basePath: string) {
    this.root = dir !== undefined && existsSync(path.join(dir, 'index.html')) ? path.resolve(dir) : undefined;
  }

  /**
   * Answers a GET of `rel` (the path after the base path, still percent-encoded). A segment that decodes to
   * '..', '.', or holds a slash, a backslash or a NUL is refused, so no request reaches outside the folder.
   */
  async serve(rel: string, res: ServerResponse, head: boolean): Promise<void> {
    const segments: string[] = [];
    for (const raw of rel.split('/')) {
      let seg: string;
      try {
        seg = decodeURIComponent(raw);
      } catch {
        return this.plain(res, 400, 'bad path\n');
      }
      if (seg === '..' || seg === '.' || /[/\\\0]/.test(seg)) return this.plain(res, 400, 'bad path\n');
      if (seg !== '') segments.push(seg);
    }
    if (this.root === undefined) return this.send(res, 200, 'text/html; charset=utf-8', Buffer.from(MISSING(this.basePath)), head, 'no-store');
    if (segments.length > 0 && segments.every((s) => !s.startsWith('.'))) {
      const file = path.join(this.root, ...segments);
      if (file.startsWith(this.root + path.sep) && path.basename(file) !== 'index.html') {
        const st = await stat(file).catch(() => undefined);
        if (st?.isFile()) {
          const type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
          return this.send(res, 200, type, await readFile(file), head, 'no-cache');
        }
      }
    }
    const index = (await readFile(path.join(this.root, 'index.html'), 'utf8')).replaceAll('%KIS_BASE%', escapeHtml(this.basePath));
    return this.send(res, 200, 'text/html; charset=utf-8', Buffer.from(index), head, 'no-store');
  }

  private plain(res: ServerResponse, status: number, text: string): void {
    this.send(res, status, 'text/plain; charset=utf-8', Buffer.from(text), false, 'no-store');
  }

  private send(res: ServerResponse, status: number, type: string, body: Buffer, head: boolean, cache: string): void {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(body.length), 'cache-control': cache });
    res.end(head ? undefined : body);
  }
}
