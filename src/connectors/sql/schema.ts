// Start-up checks of a SQL target, shared by the types: the table exists, the key columns carry a primary or
// unique key, every mapped column exists, no NOT NULL column without a default is left out of a mapping.
import { KisError } from '../../kernel/errors.js';
import type { Mapping } from './plan.js';

export interface ColumnInfo {
  readonly name: string;
  readonly type: string;
  readonly nullable: boolean;
  /** A default, auto-increment, identity or generated value: an insert may leave it out. */
  readonly hasDefault: boolean;
}

export interface TableInfo {
  readonly columns: readonly ColumnInfo[];
  /** Column lists of the primary key and of every unique index. */
  readonly uniqueKeys: readonly (readonly string[])[];
}

function err(cid: string, table: string, column: string | undefined, msg: string): KisError {
  return new KisError('KIS_ERR_STORAGE_SCHEMA', `connector '${cid}': table ${table}${column === undefined ? '' : `, column ${column}`}: ${msg}`, {
    context: { connector: cid, table, ...(column === undefined ? {} : { column }) },
  });
}

export function checkTable(cid: string, table: string, info: TableInfo | undefined, m: Mapping): KisError[] {
  if (info === undefined) return [err(cid, table, undefined, 'the table does not exist')];
  const out: KisError[] = [];
  const byName = new Map(info.columns.map((c) => [c.name.toLowerCase(), c]));
  const has = (c: string): boolean => byName.has(c.toLowerCase());
  for (const c of m.keyColumns) if (!has(c)) out.push(err(cid, table, c, `key column ${c} does not exist (connector key: ${m.keyFields.join('_')})`));
  if (m.explicit !== undefined) {
    for (const [c, f] of m.explicit) if (!has(c)) out.push(err(cid, table, c, `mapped column ${c} (from row field ${f}) does not exist`));
    const mapped = new Set(m.explicit.map(([c]) => c.toLowerCase()));
    for (const c of info.columns) {
      if (!c.nullable && !c.hasDefault && !mapped.has(c.name.toLowerCase())) {
        out.push(err(cid, table, c.name, `column ${c.name} is NOT NULL without a default and is not in the columns mapping: every insert would be refused`));
      }
    }
  }
  const want = new Set(m.keyColumns.map((c) => c.toLowerCase()));
  const keyed = info.uniqueKeys.some((k) => k.length === want.size && k.every((c) => want.has(c.toLowerCase())));
  if (!keyed && m.keyColumns.every(has)) {
    out.push(err(cid, table, m.keyColumns.join(', '), `the key columns (${m.keyColumns.join(', ')}) carry no primary key or unique index: an upsert cannot find the row to update`));
  }
  return out;
}
