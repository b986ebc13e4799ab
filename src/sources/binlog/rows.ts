// From binlog events to change rows: which tables are read, how a column value becomes JSON, how the
// events of one transaction are gathered until its commit, and which partition a row goes to. Pure code,
// no connection: the reader feeds it events, the snapshot feeds it SELECTed rows.
import { GtidSet, MariadbGtidPosition, type AnyBinlogEvent, type BinlogEventByName, type BinlogEventName } from '@vlasky/zongji';
import { KisError } from '../../kernel/errors.js';
import { partitionForKey } from '../../kernel/partitioner.js';
import type { Row } from '../../kernel/types.js';

export type ChangeOp = 'c' | 'u' | 'd' | 'r';

/** Where a change is in the binlog: the end of its transaction (resuming there reads what follows it). */
export interface BinlogPoint {
  readonly file: string;
  readonly pos: number;
  /** The GTID position / set covering the transaction ('' when the server runs without GTIDs). */
  readonly gtid: string;
}

/** One row change as it is handed to the flows. */
export interface ChangeRow extends Row {
  op: ChangeOp;
  schema: string;
  table: string;
  /** The primary-key columns and their values (null for a table without a primary key). */
  pk: Record<string, unknown> | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  position: { file: string; pos: number; gtid: string };
  /** Commit timestamp of the transaction (binlog header, whole seconds), ms since the epoch. */
  ts_ms: number;
}

/** A committed transaction's changes of the selected tables (possibly none: the position still advances). */
export interface Transaction {
  readonly rows: ChangeRow[];
  readonly end: BinlogPoint;
  readonly tsMs: number;
}

// ---- table selection -------------------------------------------------------------------------

function globToRegExp(glob: string): RegExp {
  return new RegExp('^' + glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
}

/** `tables` and `exclude` patterns, 'schema.table' with '*' wildcards. */
export class TableFilter {
  private readonly include: RegExp[];
  private readonly exclude: RegExp[];
  private readonly cache = new Map<string, boolean>();

  constructor(readonly tables: readonly string[], readonly excluded: readonly string[] = []) {
    this.include = tables.map(globToRegExp);
    this.exclude = excluded.map(globToRegExp);
  }

  matches(schema: string, table: string): boolean {
    const name = `${schema}.${table}`;
    let hit = this.cache.get(name);
    if (hit === undefined) {
      hit = this.include.some((r) => r.test(name)) && !this.exclude.some((r) => r.test(name));
      this.cache.set(name, hit);
    }
    return hit;
  }

  /** zongji's includeSchema, when every pattern names its schema exactly (saves decoding other schemas). */
  zongjiIncludeSchema(): Record<string, string[] | true> | undefined {
    const out: Record<string, string[] | true> = {};
    for (const p of this.tables) {
      const [schema = '', table = ''] = p.split('.');
      if (schema.includes('*')) return undefined;
      const cur = out[schema];
      if (table.includes('*') || cur === true) out[schema] = true;
      else out[schema] = [...(cur ?? []), table];
    }
    return out;
  }
}

// ---- values ------------------------------------------------------------------------------------

/**
 * A column value as JSON: numbers stay numbers (BIGINT beyond 2^53 and DECIMAL arrive as exact strings),
 * temporal types as MySQL text ('2024-02-29 23:59:58.123456', the connection uses dateStrings), JSON as its
 * text, binary strings and BLOBs as base64.
 */
export function jsonValue(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(jsonValue);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, jsonValue(x)]));
  return v;
}

/** A row image as JSON values, converted in place (zongji and mysql2 build a fresh object per row). */
export function jsonImage(row: Record<string, unknown>): Record<string, unknown> {
  for (const k in row) {
    const v = row[k];
    if (v !== null && typeof v === 'object') row[k] = jsonValue(v);
    else if (v === undefined || typeof v === 'bigint') row[k] = jsonValue(v);
  }
  return row;
}

export function pkOf(image: Record<string, unknown> | null, pkColumns: readonly string[] | undefined): Record<string, unknown> | null {
  if (!image || !pkColumns || pkColumns.length === 0) return null;
  const out: Record<string, unknown> = {};
  for (const c of pkColumns) out[c] = image[c] ?? null;
  return out;
}

/** The partition of a row: hash of its table and primary key, so that changes to one key stay in one ordered partition. */
export function partitionOf(row: Pick<ChangeRow, 'schema' | 'table' | 'pk' | 'after' | 'before'>, partitions: number): number {
  if (partitions <= 1) return 0;
  // Without a primary key the whole image is the identity of the row.
  const identity = row.pk ?? row.after ?? row.before;
  return partitionForKey(`${row.schema}.${row.table}:${JSON.stringify(identity)}`, partitions);
}

// ---- GTIDs -------------------------------------------------------------------------------------

/**
 * A MariaDB GTID position as text, kept per domain: a commit builds its domain's 'd-s-n' and, with one domain
 * (the usual server), that is the whole position. zongji's MariadbGtidPosition.toString() sorted, mapped and
 * joined every domain anew, for every transaction. The text is the same as zongji's (domains in order).
 */
class MariadbPositionText {
  private readonly byDomain = new Map<number, string>();
  private text: string;

  constructor(seed: string) {
    // Parsed and checked by zongji's own class; its text is one 'd-s-n' per domain, in domain order.
    this.text = MariadbGtidPosition.parse(seed).toString();
    if (this.text !== '') for (const entry of this.text.split(',')) this.byDomain.set(Number(entry.slice(0, entry.indexOf('-'))), entry);
  }

  add(domainId: number, serverId: number, seqNo: number | string): string {
    // A sequence number past 2^53 arrives as an exact string; BigInt writes it as zongji's class did.
    const seq = typeof seqNo === 'number' && Number.isSafeInteger(seqNo) ? seqNo : BigInt(seqNo).toString();
    const entry = `${domainId}-${serverId}-${seq}`;
    const alone = this.byDomain.size === 0 || (this.byDomain.size === 1 && this.byDomain.has(domainId));
    this.byDomain.set(domainId, entry);
    this.text = alone ? entry : [...this.byDomain].sort((a, b) => a[0] - b[0]).map(([, e]) => e).join(',');
    return this.text;
  }

  toString(): string {
    return this.text;
  }
}

/**
 * The GTID position (MariaDB: last transaction per domain) or set (MySQL: every executed transaction)
 * after each commit, seeded from the checkpoint, so that it survives a resume by file:pos (zongji only
 * knows it after a start at the end or by GTID). A MySQL set without a seed would have gaps: it stays ''.
 */
export class GtidTracker {
  private maria: MariadbPositionText | undefined;
  private mysql: GtidSet | undefined;
  private pending: { domainId: number; serverId: number; seqNo: number | string } | string | undefined;
  private seeded: boolean;

  constructor(seed: string) {
    this.seeded = seed !== '';
    if (/^\d+-\d+-\d+/.test(seed)) this.maria = new MariadbPositionText(seed);
    else if (seed !== '') this.mysql = GtidSet.parse(seed);
  }

  /** A seed learnt after the start (zongji's gtidSet after a start at the end), unless one was given. */
  seedIfUnknown(seed: string): void {
    if (this.seeded || seed === '') return;
    this.seeded = true;
    if (/^\d+-\d+-\d+/.test(seed)) this.maria = new MariadbPositionText(seed);
    else this.mysql = GtidSet.parse(seed);
  }

  /** The position / set after the last commit, without taking a pending GTID ('' when unknown). */
  current(): string {
    return this.maria?.toString() ?? (this.seeded ? this.mysql?.toString() ?? '' : '');
  }

  begin(e: BinlogEventByName<'mariadbgtid' | 'gtid'>): void {
    if (e.getEventName() === 'mariadbgtid') {
      const m = e as BinlogEventByName<'mariadbgtid'>;
      this.pending = { domainId: m.domainId, serverId: m.serverId, seqNo: m.seqNo };
    } else {
      this.pending = e.gtid;
    }
  }

  commit(): string {
    const p = this.pending;
    this.pending = undefined;
    if (typeof p === 'object') {
      this.maria ??= new MariadbPositionText('');
      return this.maria.add(p.domainId, p.serverId, p.seqNo);
    }
    if (typeof p === 'string' && this.seeded) {
      this.mysql ??= GtidSet.parse('');
      this.mysql.add(p);
    }
    return this.maria?.toString() ?? (this.seeded ? this.mysql?.toString() ?? '' : '');
  }
}

// ---- transactions ------------------------------------------------------------------------------

/** Event types the reader asks zongji for. 'tablemap' must be there, or zongji drops every row event. */
export const BINLOG_EVENTS: BinlogEventName[] = [
  'rotate', 'tablemap', 'writerows', 'updaterows', 'deleterows', 'xid', 'query', 'gtid', 'mariadbgtid',
  'transactionpayload', 'partialupdaterows',
];

/** Events zongji reports but cannot decode: their row changes would be lost, so the source stops. */
export const UNDECODABLE: Readonly<Record<string, string>> = {
  transactionpayload: 'a compressed transaction (MySQL binlog_transaction_compression=ON); set binlog_transaction_compression=OFF',
  partialupdaterows: 'a partial JSON update (MySQL binlog_row_value_options=PARTIAL_JSON); set binlog_row_value_options=\'\'',
};

export function undecodableError(source: string, kind: string, at: string): KisError {
  return new KisError('KIS_ERR_BINLOG_UNDECODABLE',
    `source '${source}': the binlog at ${at} holds ${UNDECODABLE[kind] ?? kind}, which zongji cannot decode; the source stops rather than skip those changes`,
    { context: { source } });
}

const NO_POSITION = { file: '', pos: 0, gtid: '' };

/** Event names by event class: zongji's getEventName() lower-cases its class name anew on every call, for every event. */
const eventNames = new Map<unknown, string>();

export function eventNameOf(e: AnyBinlogEvent): string {
  const cls = e.constructor;
  let name = eventNames.get(cls);
  if (name === undefined) {
    name = e.getEventName();
    // Only zongji's classes: a plain object (a test's event) names itself.
    if (cls !== Object) eventNames.set(cls, name);
  }
  return name;
}

/**
 * Gathers the row events of one transaction until its commit (xid, or COMMIT for non-transactional
 * tables; a DDL statement is a group of its own), then hands the transaction on whole. MariaDB opens a
 * transaction with its GTID event, MySQL with a BEGIN query (after its GTID event when gtid_mode=ON).
 */
export class TransactionAssembler {
  private file = '';
  private rows: ChangeRow[] = [];
  private open = false;

  constructor(
    private readonly source: string,
    private readonly filter: TableFilter,
    private readonly gtids: GtidTracker,
    private readonly emit: (t: Transaction) => void,
  ) {}

  get currentFile(): string {
    return this.file;
  }

  /** Drops a transaction in progress (the connection was lost mid-transaction; it is read again after reconnecting). */
  reset(): void {
    this.rows = [];
    this.open = false;
  }

  /** `name` is the event's name, when the caller has it already (eventNameOf). */
  push(e: AnyBinlogEvent, name: string = eventNameOf(e)): void {
    switch (name) {
      case 'tablemap':
        this.tableMap(e as BinlogEventByName<'tablemap'>);
        return;
      case 'writerows':
      case 'updaterows':
      case 'deleterows':
        this.rowsEvent(e as BinlogEventByName<'writerows' | 'updaterows' | 'deleterows'>, name);
        return;
      case 'xid':
        this.commit(e.nextPosition, e.timestamp);
        return;
      case 'mariadbgtid':
      case 'gtid':
        this.gtids.begin(e as BinlogEventByName<'mariadbgtid' | 'gtid'>);
        // Rows of a transaction cut short by a lost connection are dropped (a commit leaves an empty array).
        if (this.rows.length > 0) this.rows = [];
        this.open = true;
        return;
      case 'rotate': {
        const r = e as BinlogEventByName<'rotate'>;
        const moved = this.file !== '' && r.binlogName !== this.file;
        this.file = r.binlogName;
        // A rotation between transactions is a position of its own: an empty transaction at the start of the
        // new file, so that an idle source checkpoints past it (the old file may be purged; nothing was lost).
        if (moved && !this.open) this.emit({ rows: [], end: { file: r.binlogName, pos: r.position, gtid: this.gtids.current() }, tsMs: e.timestamp || Date.now() });
        return;
      }
      case 'query': {
        const q = (e as BinlogEventByName<'query'>).query.trim().toUpperCase();
        if (q === 'BEGIN') {
          this.rows = [];
          this.open = true;
        } else if (this.open && (q.startsWith('SAVEPOINT') || q.startsWith('ROLLBACK TO') || q.startsWith('RELEASE SAVEPOINT'))) {
          // Statements inside a transaction that neither commit it nor carry rows.
        } else {
          // COMMIT of a non-transactional group, or a standalone statement (DDL): the group ends here.
          this.commit(e.nextPosition, e.timestamp);
        }
        return;
      }
      default:
        if (name in UNDECODABLE) throw undecodableError(this.source, name, `${this.file}:${e.nextPosition}`);
    }
  }

  private rowsEvent(e: BinlogEventByName<'writerows' | 'updaterows' | 'deleterows'>, name: string): void {
    const tm = e.tableMap[e.tableId];
    if (!tm || !this.filter.matches(tm.parentSchema, tm.tableName)) return;
    const pkColumns = this.pkColumns(e);
    const schema = tm.parentSchema;
    const table = tm.tableName;
    // position and ts_ms are set at the commit, for every row of the transaction at once.
    if (name === 'updaterows') {
      for (const r of (e as BinlogEventByName<'updaterows'>).rows) {
        const before = jsonImage(r.before);
        const after = jsonImage(r.after);
        this.rows.push({ op: 'u', schema, table, pk: pkOf(after, pkColumns), before, after, position: NO_POSITION, ts_ms: 0 });
      }
    } else {
      const insert = name === 'writerows';
      for (const r of (e as BinlogEventByName<'writerows'>).rows) {
        const image = jsonImage(r);
        this.rows.push({ op: insert ? 'c' : 'd', schema, table, pk: pkOf(image, pkColumns), before: insert ? null : image, after: insert ? image : null, position: NO_POSITION, ts_ms: 0 });
      }
    }
  }

  private pkColumns(e: BinlogEventByName<'writerows' | 'updaterows' | 'deleterows'>): string[] | undefined {
    return this.tableMaps.get(e.tableId)?.pkColumns;
  }

  /** Per table id, its key columns by name (undefined when the TableMap event does not name them). */
  private readonly tableMaps = new Map<number, { pkColumns: string[] | undefined }>();

  /** zongji's table cache does not keep the key columns: they are taken from the TableMap events. */
  private tableMap(e: BinlogEventByName<'tablemap'>): void {
    // A table id names one version of a table's columns (an ALTER gives a new id), so the first event of an id is enough.
    if (this.tableMaps.has(e.tableId)) return;
    // The TableMap event (FULL metadata) names the key columns by index. Resolved to names here, once per
    // table id, rather than for every rows event (with single-row transactions, for every row).
    const { primaryKey, columnNames } = e;
    const pkColumns = primaryKey && columnNames ? primaryKey.map((i) => columnNames[i]!).filter((c) => c !== undefined) : undefined;
    this.tableMaps.set(e.tableId, { pkColumns });
    if (this.tableMaps.size > 10_000) this.tableMaps.clear();
  }

  private commit(nextPosition: number, timestamp: number): void {
    const end: BinlogPoint = { file: this.file, pos: nextPosition, gtid: this.gtids.commit() };
    const position = { file: end.file, pos: end.pos, gtid: end.gtid };
    for (const r of this.rows) {
      r.position = position;
      r.ts_ms = timestamp;
    }
    const rows = this.rows;
    this.rows = [];
    this.open = false;
    this.emit({ rows, end, tsMs: timestamp });
  }

  get inTransaction(): boolean {
    return this.open;
  }
}
