// "Try it": a flow of an edited config run on sample rows, the way the test driver runs flows (a service
// without sources, in embedded mode), with nothing leaving the process: Kafka is swapped for the embedded
// log, and storage connectors for ones that only note what they would have been given (a Load from them
// finds nothing). Printed lines are swallowed.
import type { Row } from '../../kernel/types.js';
import type { TryResult } from '../contract.js';
import { ApiRefusal } from '../backend.js';
import type { KisConfig } from '../../config/model.js';
import { recordKey, type Connector } from '../../core/connector.js';
import { REJECTION_CODES, type DeadLetter } from '../../core/dead-letter.js';
import type { ConnectorTypeSpec, TypeRegistry } from '../../core/plugins.js';
import type { KisPool } from '../../core/pool.js';
import { KisConfigErrors } from '../../kernel/errors.js';
import { connectorTopic } from '../../kernel/names.js';
import { silentLogger } from '../../observability/logger.js';
import type { App } from '../../runtime/app.js';
import { KisService } from '../../runtime/service.js';
import { problemOf } from './config-edits.js';

/** At most this many sample rows per try. */
export const MAX_TRY_ROWS = 1000;

function noting(saved: Map<string, Row[]>, real: ConnectorTypeSpec): ConnectorTypeSpec {
  return {
    ...real,
    create: (conn): Connector => ({
      config: conn,
      keyOf: (row) => recordKey(row, conn.key),
      writer: {
        async save(rows) {
          const list = saved.get(conn.cid) ?? [];
          list.push(...rows.map((r) => ({ ...r })));
          saved.set(conn.cid, list);
        },
      },
      byKey: { lookupIn: async () => new Map() },
    }),
  };
}

export async function tryFlow(app: App, flowId: string, rows: readonly Readonly<Record<string, unknown>>[]): Promise<TryResult> {
  const fc = app.config.flows.get(flowId);
  if (!fc) throw new ApiRefusal(404, 'API_NOT_FOUND', `no flow '${flowId}' in the edited config (flows: ${[...app.config.flows.keys()].join(', ')})`, 'flow');
  if (rows.length > MAX_TRY_ROWS) throw new ApiRefusal(400, 'API_BAD_REQUEST', `at most ${MAX_TRY_ROWS} rows per try (got ${rows.length})`, 'rows');
  const saved = new Map<string, Row[]>();
  const realTypes = app.pool.types;
  const types = Object.create(realTypes, {
    connector: { value: (name: string) => {
      const spec = realTypes.connector(name);
      return spec && name !== 'kafka' ? noting(saved, spec) : spec;
    } },
  }) as TypeRegistry;
  const pool = Object.create(app.pool, { types: { value: types } }) as KisPool;
  const config: KisConfig = { ...app.config, global: { ...app.config.global, kafka: undefined } };
  const output: Row[] = [];
  const letters: DeadLetter[] = [];
  let service: KisService;
  try {
    service = KisService.create(config, {
      pool, logger: silentLogger(), locate: app.locate, withoutSources: true, withoutJobs: true, tickMs: 0,
      stdout: { write: (_text, cb) => { cb(); return true; } },
      onRun: (flow, result) => { if (flow === flowId) output.push(...result.output); },
      onDeadLetters: (l) => letters.push(...l),
    });
  } catch (err) {
    return { problems: err instanceof KisConfigErrors ? err.errors.map(problemOf) : [problemOf(err as Error)], output: [], rejects: [], dead_letters: [], saved: {} };
  }
  try {
    await service.startConnectors();
    await service.runInPartition(flowId, rows.map((r) => ({ ...r })), 0, 0);
    await service.settle();
    for (const c of config.conns.values()) {
      if (c.type !== 'kafka') continue;
      const records = service.log?.get(connectorTopic(c).topic)?.all() ?? [];
      if (records.length > 0) saved.set(c.cid, records.map((r) => r.value));
    }
  } finally {
    await service.close();
  }
  const mine = letters.filter((d) => d.flow === flowId);
  const view = (d: DeadLetter): TryResult['rejects'][number] => ({ fn: d.fn, code: d.code, message: d.message, row: d.row });
  return {
    problems: [], output,
    rejects: mine.filter((d) => REJECTION_CODES.has(d.code)).map(view),
    dead_letters: mine.filter((d) => !REJECTION_CODES.has(d.code)).map(view),
    saved: Object.fromEntries(saved),
  };
}
