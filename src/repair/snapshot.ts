// `kisflow snapshot --source S --tables T[,T] [--where W]`: asks a running binlog source, from any process,
// to re-snapshot tables, by inserting a signal row into its signal_table. The reader (whichever replica it is)
// reads the row from the binlog and takes the request (see src/sources/binlog/incremental.ts).
import { KisError } from '../kernel/errors.js';
import { TableFilter } from '../sources/binlog/rows.js';
import { connectionOptions, mysql } from '../sources/binlog/sql.js';
import type { BinlogSourceParamsT } from '../config/codecs.js';
import { prepareApp } from '../runtime/app.js';
import { parseOptions, type CommandContext } from './dlq.js';

const quote = (id: string): string => '`' + id.replace(/`/g, '``') + '`';

export async function snapshotCommand(args: readonly string[], ctx: CommandContext = {}): Promise<number> {
  const { opts } = parseOptions(args, [], ['source', 'tables', 'where', 'id', 'config']);
  if (typeof opts['source'] !== 'string' || typeof opts['tables'] !== 'string') {
    throw new KisError('KIS_ERR_USAGE', 'usage: kisflow snapshot --source S --tables schema.table[,schema.table] [--where SQL] [--id ID]');
  }
  const app = await prepareApp(typeof opts['config'] === 'string' ? opts['config'] : ctx.configDir ?? process.env['KISFLOW_CONFIG'] ?? 'config');
  const sc = app.config.sources.get(opts['source']);
  if (!sc || sc.type !== 'binlog') {
    const binlogs = [...app.config.sources.values()].filter((s) => s.type === 'binlog').map((s) => s.sid);
    throw new KisError('KIS_ERR_REPAIR_REQUEST', `no binlog source '${opts['source']}' in ${app.config.dir} (binlog sources: ${binlogs.join(', ') || 'none'})`);
  }
  const params = sc.params as unknown as BinlogSourceParamsT;
  if (!params.signal_table) throw new KisError('KIS_ERR_REPAIR_REQUEST', `binlog source '${sc.sid}' has no params.signal_table: set one (and create the table) to request snapshots from other processes`);
  const tables = opts['tables'].split(',').map((t) => t.trim()).filter((t) => t !== '');
  const filter = new TableFilter(params.tables, params.exclude ?? []);
  for (const t of tables) {
    const [schema = '', table = ''] = t.split('.');
    if (!/^[^.]+\.[^.]+$/.test(t) || (!t.includes('*') && !filter.matches(schema, table))) {
      throw new KisError('KIS_ERR_REPAIR_REQUEST', `source '${sc.sid}' does not follow '${t}' (tables: ${params.tables.join(', ')})`);
    }
  }
  const id = typeof opts['id'] === 'string' ? opts['id'] : `cli-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  const data = JSON.stringify({ tables, ...(typeof opts['where'] === 'string' ? { where: opts['where'] } : {}) });
  const [schema = '', table = ''] = params.signal_table.split('.');
  const conn = await mysql.createConnection({ ...connectionOptions(sc.addrs[0] ?? '', params) });
  try {
    await conn.query(`INSERT INTO ${quote(schema)}.${quote(table)} (id, type, data) VALUES (?, 'snapshot', ?)`, [id, data]);
  } catch (err) {
    throw new KisError('KIS_ERR_REPAIR_REQUEST', `cannot insert the signal into ${params.signal_table}: ${(err as Error).message} (the table needs columns id, type, data, and the user INSERT on it)`, { cause: err });
  } finally {
    await conn.end().catch(() => undefined);
  }
  (ctx.stdout ?? process.stdout).write(`requested snapshot ${id} of ${tables.join(', ')} from source ${sc.sid} (signal in ${params.signal_table}); the reading replica logs its progress\n`);
  return 0;
}
