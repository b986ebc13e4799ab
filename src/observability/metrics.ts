// Prometheus metrics of the flows: the Go original's six (same names and labels) plus rows per function
// by outcome. The registry is handed in; nothing registers globally.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { FullMode } from '../config/codecs.js';
import type { FlowObserver, FuncStats } from '../core/observer.js';
import type { SourceObserver } from '../core/source.js';
import type { StateObserver } from '../state/state-manager.js';

const FUNC_MS_BUCKETS = [0.005, 0.01, 0.03, 0.08, 0.1, 0.5, 1, 5, 10, 100, 1000, 5000, 30000];
const FLOW_MS_BUCKETS = [...FUNC_MS_BUCKETS, 60000];

export class PromFlowObserver implements FlowObserver, SourceObserver, StateObserver {
  private readonly dataTotal: Counter;
  private readonly flowData: Gauge<'flow_name'>;
  private readonly flowRuns: Gauge<'flow_name'>;
  private readonly funcRuns: Gauge<'func_name' | 'func_mode'>;
  private readonly funcMs: Histogram<'func_name' | 'func_mode'>;
  private readonly flowMs: Histogram<'flow_name'>;
  private readonly funcRows: Counter<'flow_id' | 'func_name' | 'func_mode' | 'outcome'>;
  private readonly reloads: Counter<'result'>;
  private readonly deadLetters: Counter<'flow_id' | 'code'>;
  private readonly consumerLag: Gauge<'source' | 'topic' | 'partition'>;
  private readonly commitMs: Histogram<'source'>;
  private readonly rebalances: Counter<'source'>;
  private readonly binlogLagSeconds: Gauge<'source'>;
  private readonly binlogQueued: Gauge<'source'>;
  private readonly binlogLeaderGauge: Gauge<'source'>;
  private readonly binlogRepairs: Counter<'source' | 'action'>;
  private readonly stateRestored: Counter<'flow_id' | 'store'>;
  private readonly stateRestoreMs: Gauge<'flow_id' | 'store' | 'partition'>;
  private readonly stateEvictions: Counter<'flow_id' | 'store'>;
  private readonly stateKeys: Gauge<'flow_id' | 'store' | 'partition'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.dataTotal = new Counter({ name: 'kisflow_data_total', help: 'Rows that entered any flow.', registers });
    this.flowData = new Gauge({ name: 'flow_data_total', help: 'Rows that entered each flow.', labelNames: ['flow_name'], registers });
    this.flowRuns = new Gauge({ name: 'flow_schedule_cnts', help: 'Runs of each flow (one per batch).', labelNames: ['flow_name'], registers });
    this.funcRuns = new Gauge({ name: 'func_schedule_cnts', help: 'Calls of each function.', labelNames: ['func_name', 'func_mode'], registers });
    this.funcMs = new Histogram({ name: 'func_run_duration', help: 'Duration of a function call, ms.', labelNames: ['func_name', 'func_mode'], buckets: FUNC_MS_BUCKETS, registers });
    this.flowMs = new Histogram({ name: 'flow_run_duration', help: 'Duration of a flow run, ms.', labelNames: ['flow_name'], buckets: FLOW_MS_BUCKETS, registers });
    this.funcRows = new Counter({
      name: 'kisflow_func_rows_total',
      help: 'Rows per function by outcome: in, out, rejected, dead_lettered.',
      labelNames: ['flow_id', 'func_name', 'func_mode', 'outcome'],
      registers,
    });
    this.consumerLag = new Gauge({ name: 'kisflow_consumer_lag', help: 'Records behind the end of each partition, after the last batch.', labelNames: ['source', 'topic', 'partition'], registers });
    this.commitMs = new Histogram({ name: 'kisflow_commit_duration_ms', help: 'Duration of an offset commit, ms.', labelNames: ['source'], buckets: [1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000], registers });
    this.rebalances = new Counter({ name: 'kisflow_rebalances_total', help: 'Partition assignments received by this member, per source.', labelNames: ['source'], registers });
    this.binlogLagSeconds = new Gauge({ name: 'kisflow_binlog_lag_seconds', help: 'Seconds the binlog source is behind the server: 0 when caught up; grows from the oldest commit not handed on yet, or while the reader is stuck or the server does not answer.', labelNames: ['source'], registers });
    this.binlogQueued = new Gauge({ name: 'kisflow_binlog_queued_transactions', help: 'Binlog transactions read but not yet handed on, after the last batch.', labelNames: ['source'], registers });
    this.binlogLeaderGauge = new Gauge({ name: 'kisflow_binlog_leader', help: '1 while this replica is the elected binlog reader of the source, else 0.', labelNames: ['source'], registers });
    this.binlogRepairs = new Counter({ name: 'kisflow_binlog_repairs_total', help: 'Repairs a binlog source made by itself or on request: gtid_resume, resnapshot (a lost position healed), incremental_snapshot.', labelNames: ['source', 'action'], registers });
    this.deadLetters = new Counter({ name: 'kisflow_dead_letters_total', help: 'Rows written to the dead-letter sink, per flow and error code.', labelNames: ['flow_id', 'code'], registers });
    this.stateRestored = new Counter({ name: 'kisflow_state_restored_records_total', help: 'Changelog records read back while restoring keyed state.', labelNames: ['flow_id', 'store'], registers });
    this.stateRestoreMs = new Gauge({ name: 'kisflow_state_restore_duration_ms', help: 'How long the last restore of a partition\'s state took, ms.', labelNames: ['flow_id', 'store', 'partition'], registers });
    this.stateEvictions = new Counter({ name: 'kisflow_state_evictions_total', help: 'State entries evicted because a store reached max_keys.', labelNames: ['flow_id', 'store'], registers });
    this.stateKeys = new Gauge({ name: 'kisflow_state_keys', help: 'Keys held per store and partition (0 after the partition moved away).', labelNames: ['flow_id', 'store', 'partition'], registers });
    this.reloads = new Counter({ name: 'kisflow_config_reloads_total', help: 'Config changes seen while running, by result: applied or rejected.', labelNames: ['result'], registers });
  }

  lag(source: string, topic: string, partition: number, lag: number): void {
    this.consumerLag.set({ source, topic, partition: String(partition) }, lag);
  }

  committed(source: string, ms: number): void {
    this.commitMs.observe({ source }, ms);
  }

  rebalanced(source: string): void {
    this.rebalances.inc({ source });
  }

  binlogLag(source: string, seconds: number, queued: number): void {
    this.binlogLagSeconds.set({ source }, seconds);
    this.binlogQueued.set({ source }, queued);
  }

  binlogRepair(source: string, action: 'gtid_resume' | 'resnapshot' | 'incremental_snapshot', _rows: number): void {
    this.binlogRepairs.inc({ source, action });
  }

  binlogLeader(source: string, leader: boolean): void {
    this.binlogLeaderGauge.set({ source }, leader ? 1 : 0);
  }

  restored(flow: string, store: string, partition: number, records: number, ms: number): void {
    this.stateRestored.inc({ flow_id: flow, store }, records);
    this.stateRestoreMs.set({ flow_id: flow, store, partition: String(partition) }, ms);
  }

  evicted(flow: string, store: string, n: number): void {
    this.stateEvictions.inc({ flow_id: flow, store }, n);
  }

  keys(flow: string, store: string, partition: number, n: number): void {
    this.stateKeys.set({ flow_id: flow, store, partition: String(partition) }, n);
  }

  deadLettered(flowId: string, code: string, rows: number): void {
    this.deadLetters.inc({ flow_id: flowId, code }, rows);
  }

  configReload(result: 'applied' | 'rejected'): void {
    this.reloads.inc({ result });
  }

  flowStarted(_flowId: string, flowName: string, rows: number): void {
    this.dataTotal.inc(rows);
    this.flowData.inc({ flow_name: flowName }, rows);
    this.flowRuns.inc({ flow_name: flowName });
  }

  funcFinished(flowId: string, _flowName: string, fid: string, mode: FullMode, s: FuncStats): void {
    this.funcRuns.inc({ func_name: fid, func_mode: mode });
    this.funcMs.observe({ func_name: fid, func_mode: mode }, s.ms);
    const base = { flow_id: flowId, func_name: fid, func_mode: mode };
    this.funcRows.inc({ ...base, outcome: 'in' }, s.rowsIn);
    this.funcRows.inc({ ...base, outcome: 'out' }, s.rowsOut);
    if (s.rejected) this.funcRows.inc({ ...base, outcome: 'rejected' }, s.rejected);
    if (s.deadLettered) this.funcRows.inc({ ...base, outcome: 'dead_lettered' }, s.deadLettered);
  }

  flowFinished(_flowId: string, flowName: string, ms: number): void {
    this.flowMs.observe({ flow_name: flowName }, ms);
  }
}
