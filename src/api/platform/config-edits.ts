// Config as the console sees and edits it. Kubernetes mounts the config as a read-only ConfigMap shared by
// every replica, so edits never touch it: they are an overlay (file -> text, or null for "back to the
// mounted one"), and the service runs from an effective directory = mounted files + overlay, made again
// whenever either changes and picked up through the supervisor's hot-reload path (checkNow).
// Kafka mode: each applied edit is one record in `<app_id>.config-edits` (key: its version), which every
// replica follows, so every replica runs the same version. Embedded mode: hot reload is off; an applied edit
// is written to the effective directory and takes effect when the service is started again from it.
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ConfigDocument, ConfigEdit, ConfigFiles, ConfigProblem } from '../contract.js';
import { ApiRefusal } from '../backend.js';
import { readConfigDir } from '../../config/load.js';
import { errorMessage, isKisError, KisConfigErrors, type KisError } from '../../kernel/errors.js';
import { silentLogger } from '../../observability/logger.js';
import { prepareApp, type App } from '../../runtime/app.js';
import { KisService } from '../../runtime/service.js';
import { hashDir } from '../../runtime/supervisor.js';

/** One applied edit as recorded (the files in full, so that a replica that starts later rebuilds the same overlay). */
export interface EditRecord extends ConfigEdit {
  readonly content: ConfigFiles;
  /** Which request made it (the applying replica waits for its own record). */
  readonly nonce: string;
}

/** A path relative to the config directory that stays inside it; anything else is a 400. */
export function safeRelative(file: string): string {
  const norm = path.posix.normalize(file.replace(/\\/g, '/'));
  if (file === '' || path.posix.isAbsolute(norm) || norm.startsWith('../') || norm === '..' || norm.split('/').some((s) => s.startsWith('.'))) {
    throw new ApiRefusal(400, 'API_BAD_REQUEST', `'${file}' is not a path inside the config directory`, 'files');
  }
  return norm;
}

export function problemOf(e: KisError | Error): ConfigProblem {
  if (!isKisError(e)) return { code: 'KIS_ERR_CONFIG', message: errorMessage(e) };
  const c = e.context;
  return {
    code: e.code, message: e.message,
    ...(c.file !== undefined ? { file: c.file } : {}), ...(c.doc !== undefined ? { doc: c.doc } : {}), ...(c.path !== undefined ? { path: c.path } : {}),
    ...(c.line !== undefined ? { line: c.line } : {}), ...(c.col !== undefined ? { column: c.col } : {}),
  };
}

/** The problems `kisflow validate --offline` finds in a directory: load, modules, implementations, every flow built. */
export async function problemsOf(dir: string, moduleVersion?: string): Promise<{ problems: ConfigProblem[]; app: App | undefined }> {
  let app: App;
  try {
    app = await prepareApp(dir, moduleVersion ? { moduleVersion } : {});
  } catch (err) {
    return { problems: err instanceof KisConfigErrors ? err.errors.map(problemOf) : [problemOf(err as Error)], app: undefined };
  }
  try {
    KisService.create(app.config, { pool: app.pool, logger: silentLogger(), locate: app.locate, withoutJobs: true, withoutSources: true });
  } catch (err) {
    return { problems: err instanceof KisConfigErrors ? err.errors.map(problemOf) : [problemOf(err as Error)], app: undefined };
  }
  return { problems: [], app };
}

const ID_FIELD: Readonly<Record<string, readonly string[]>> = {
  flow: ['flow_id', 'flow_name'], func: ['fid'], conn: ['cid'], source: ['sid'], job: ['id'], global: [],
};

/** The documents of one YAML file, each with its text as written. */
export function documentsOf(file: string, text: string): Array<Omit<ConfigDocument, 'from' | 'edit_version'>> {
  const out: Array<Omit<ConfigDocument, 'from' | 'edit_version'>> = [];
  let i = 0;
  for (const doc of parseAllDocuments(text)) {
    if (!('contents' in doc)) continue;
    i++;
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    const obj = value !== null && typeof value === 'object' ? value as Record<string, unknown> : {};
    const kistype = typeof obj['kistype'] === 'string' ? obj['kistype'] : '';
    const idKey = (ID_FIELD[kistype] ?? []).find((k) => typeof obj[k] === 'string');
    const [start, , end] = doc.range;
    out.push({ kistype, id: kistype === 'global' ? 'global' : idKey ? String(obj[idKey]) : '', file, doc: i, yaml: text.slice(start, end).replace(/\n?---\s*$/, '').trimEnd() + '\n' });
  }
  return out;
}

export class EffectiveConfig {
  /** file -> its edit (text, or null: deleted from the overlay, the mounted file shows again). */
  private readonly overlay = new Map<string, { text: string | null; version: number }>();
  readonly edits: EditRecord[] = [];
  private mountedHash: string | undefined;

  /**
   * `journal`: where embedded mode keeps its applied edits across restarts (`<effective dir>.edits.json`), when
   * the effective directory is a stable one given by the caller; a temp directory keeps them for the process only.
   */
  private constructor(readonly mountedDir: string, readonly dir: string, readonly journal: string | undefined) {}

  /** Makes the effective directory (a fresh temp directory unless one is given) from the mounted one and the journal. */
  static async create(mountedDir: string, effectiveDir?: string): Promise<EffectiveConfig> {
    const dir = effectiveDir ?? await mkdtemp(path.join(tmpdir(), 'kisflow-effective-'));
    const e = new EffectiveConfig(path.resolve(mountedDir), path.resolve(dir), effectiveDir ? `${path.resolve(dir)}.edits.json` : undefined);
    const kept = e.journal ? await readFile(e.journal, 'utf8').catch(() => undefined) : undefined;
    if (kept !== undefined) for (const rec of JSON.parse(kept) as EditRecord[]) e.take(rec);
    await e.rebuild();
    return e;
  }

  /** Writes the edits to the journal (embedded mode), when there is one. */
  async persist(): Promise<void> {
    if (this.journal) await writeFile(this.journal, JSON.stringify(this.edits), 'utf8');
  }

  get version(): number {
    return this.edits.reduce((v, e) => Math.max(v, e.version), 0);
  }

  editOf(file: string): number | undefined {
    const o = this.overlay.get(file);
    return o && o.text !== null ? o.version : undefined;
  }

  /** Takes an edit into the overlay; an edit of a version already taken is ignored (the first record of a version wins). */
  take(rec: EditRecord): boolean {
    if (rec.version <= this.version) return false;
    for (const [file, text] of Object.entries(rec.content)) this.overlay.set(safeRelative(file), { text, version: rec.version });
    this.edits.push(rec);
    return true;
  }

  /** Forgets the overlay (the edits stay listed: a later edit builds on the mounted files). */
  dropOverlay(): void {
    this.overlay.clear();
  }

  /** Writes the mounted files and the overlay into `into` (default: the effective directory). */
  async writeTo(into: string, extra: ConfigFiles = {}): Promise<void> {
    await rm(into, { recursive: true, force: true });
    await mkdir(into, { recursive: true });
    // Follows the ConfigMap's symlinks; its hidden ..data copies are skipped.
    await cp(this.mountedDir, into, { recursive: true, dereference: true, filter: (src) => !path.basename(src).startsWith('.') || src === this.mountedDir });
    const files = new Map<string, string | null>([...this.overlay].map(([f, o]) => [f, o.text]));
    for (const [f, text] of Object.entries(extra)) files.set(safeRelative(f), text);
    for (const [file, text] of files) {
      const target = path.join(into, file);
      if (text === null) {
        // Back to the mounted file (already copied); a file only the overlay had goes away.
        const mounted = await readFile(path.join(this.mountedDir, file), 'utf8').catch(() => undefined);
        if (mounted === undefined) await rm(target, { force: true });
        else await writeFile(target, mounted, 'utf8');
      } else {
        await mkdir(path.dirname(target), { recursive: true });
        await writeFile(target, text, 'utf8');
      }
    }
  }

  async rebuild(): Promise<void> {
    this.mountedHash = await hashDir(this.mountedDir).catch(() => undefined);
    await this.writeTo(this.dir);
  }

  /** True when the mounted directory changed since the last rebuild. */
  async mountedChanged(): Promise<boolean> {
    const h = await hashDir(this.mountedDir).catch(() => undefined);
    return h !== undefined && h !== this.mountedHash;
  }

  /** A temporary copy of the effective directory with `files` replaced; removed by the returned function. */
  async scratch(files: ConfigFiles): Promise<{ dir: string; remove: () => Promise<void> }> {
    const dir = await mkdtemp(path.join(tmpdir(), 'kisflow-edit-'));
    await this.writeTo(dir, files);
    return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
  }

  /** Every document of the effective directory, with where it comes from. */
  async documents(): Promise<ConfigDocument[]> {
    const out: ConfigDocument[] = [];
    for (const f of await readConfigDir(this.dir)) {
      const version = this.editOf(f.file);
      for (const d of documentsOf(f.file, f.text)) out.push({ ...d, from: version !== undefined ? 'edit' : 'mounted', ...(version !== undefined ? { edit_version: version } : {}) });
    }
    return out;
  }

  async modules(functions: readonly string[]): Promise<Array<{ file: string; text: string; from: 'mounted' | 'edit' }>> {
    const out: Array<{ file: string; text: string; from: 'mounted' | 'edit' }> = [];
    for (const file of functions) {
      const text = await readFile(path.join(this.dir, file), 'utf8').catch(() => undefined);
      if (text !== undefined) out.push({ file, text, from: this.editOf(file) !== undefined ? 'edit' : 'mounted' });
    }
    return out;
  }
}
