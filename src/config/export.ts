// Writes a loaded config back as YAML, one file per object (the Go original's ConfigExportYaml).
// Values that were written as ${VAR} are written back as ${VAR}, so an export never spills a secret.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { fnv1a } from './load.js';
import type { KisConfig } from './model.js';

export interface ExportedFile {
  readonly file: string;
  readonly text: string;
}

function withTemplates(doc: unknown, templates: ReadonlyMap<string, string> | undefined): unknown {
  const copy = structuredClone(doc) as Record<string, unknown>;
  if (!templates) return copy;
  for (const [key, written] of templates) {
    const segs = JSON.parse(key) as Array<string | number>;
    let node: unknown = copy;
    for (let i = 0; i < segs.length - 1 && node && typeof node === 'object'; i++) {
      node = (node as Record<string | number, unknown>)[segs[i]!];
    }
    const last = segs[segs.length - 1];
    if (node && typeof node === 'object' && last !== undefined && last in (node as object)) {
      (node as Record<string | number, unknown>)[last] = written;
    }
  }
  return copy;
}

/** A file name from an id that may be any UTF-8: kept when safe, otherwise made safe and unique. */
function fileName(kind: string, id: string): string {
  const safe = id.replace(/[\\/:*?"<>|\s]/g, '_');
  return `${kind}-${safe === id ? id : `${safe}-${fnv1a(id)}`}.yaml`;
}

export function exportConfig(config: KisConfig): ExportedFile[] {
  const out: ExportedFile[] = [];
  const add = (kind: string, id: string, doc: unknown): void => {
    out.push({ file: fileName(kind, id), text: stringify(withTemplates(doc, config.templates.get(`${kind}:${id}`)), { lineWidth: 0 }) });
  };
  if (config.global.doc) add('global', 'global', config.global.doc);
  for (const s of config.sources.values()) add('source', s.sid, s.doc);
  for (const f of config.flows.values()) add('flow', f.id, f.doc);
  for (const f of config.funcs.values()) add('func', f.fid, f.doc);
  for (const c of config.conns.values()) add('conn', c.cid, c.doc);
  for (const j of config.jobs.values()) add('job', j.id, j.doc);
  return out;
}

export async function exportConfigTo(config: KisConfig, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files = exportConfig(config);
  for (const f of files) await writeFile(path.join(outDir, f.file), f.text, 'utf8');
  return files.map((f) => f.file);
}
