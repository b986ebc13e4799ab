// What one kistype brings to the loader: its codec, the id a document declares, its normalisation into the
// model, and its cross-checks. Adding a kistype is one module that exports a KindSpec plus one line in index.ts.
import type * as t from 'io-ts';
import type { KisError } from '../../kernel/errors.js';
import type { ConnConfig, FlowConfig, FuncConfig, GlobalConfig, Origin, SourceConfig } from '../model.js';
import type { JobConfig } from '../jobs/codec.js';
import type { YamlDoc } from '../yaml-docs.js';

export interface Entry<D> { readonly doc: YamlDoc; readonly value: D }

/** What the kinds share while one directory loads: the normalised objects, their documents, and the errors. */
export interface LoadContext {
  readonly errors: KisError[];
  /** The config directory (files a document names, like users_file, are relative to it). */
  readonly dir: string;
  /** The environment `${VAR}` reads. */
  readonly env: NodeJS.ProcessEnv;
  global: GlobalConfig;
  readonly funcs: Map<string, FuncConfig>;
  readonly conns: Map<string, ConnConfig>;
  readonly flows: Map<string, FlowConfig>;
  readonly sources: Map<string, SourceConfig>;
  readonly jobs: Map<string, JobConfig>;
  /** The document each id was declared in, per kistype. */
  readonly docs: Readonly<Record<string, Map<string, YamlDoc>>>;
  /**
   * Ids declared by documents that failed to decode, per kistype: a reference to one is not reported again as
   * "not declared" (the document's own errors already say what is wrong).
   */
  readonly invalid: Readonly<Record<string, Set<string>>>;
  /** Keeps a document's `${VAR}` templates, so that export writes them back. */
  keep(kind: string, id: string, doc: YamlDoc): void;
}

export interface KindSpec<C extends t.Mixed = t.Mixed> {
  readonly kistype: string;
  readonly codec: C;
  /** The id a document declares, read from the raw YAML value (also for a document that fails to decode). */
  idOf(raw: Readonly<Record<string, unknown>>): string | undefined;
  /** Normalises the valid documents of this kistype into the context (duplicates, aliases, params). */
  collect(entries: readonly Entry<t.TypeOf<C>>[], ctx: LoadContext): void;
  /** Checks references from this kistype's objects to the others, once every kind has collected. */
  check(ctx: LoadContext): void;
}

/** Erases a spec's codec type so that specs of different kistypes sit in one list. */
export function defineKind<C extends t.Mixed>(spec: KindSpec<C>): KindSpec {
  return spec as unknown as KindSpec;
}

export const originOf = (doc: YamlDoc): Origin => ({ file: doc.file, doc: doc.index });

/** A string id from the raw YAML, trying the given keys in order. */
export function rawId(raw: Readonly<Record<string, unknown>>, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const v = raw[k];
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

/** True when a reference to `id` of this kistype is already explained by an invalid document. */
export function explained(ctx: LoadContext, kistype: string, id: string): boolean {
  return ctx.invalid[kistype]?.has(id) ?? false;
}
