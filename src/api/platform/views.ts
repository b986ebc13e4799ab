// The deployment seen from the status records: the overview (per flow, summed over live replicas), the
// graph (drawn from the config like `kisflow graph`, with live numbers) and a function's numbers.
import type { FlowNumbers, FunctionNumbers, Graph, GraphEdge, GraphNode, Overview } from '../contract.js';
import type { KisConfig } from '../../config/model.js';
import type { StatusRecord } from './status.js';

type FlowSum = { -readonly [K in keyof FlowNumbers]: FlowNumbers[K] };

const zero = (): FlowSum => ({ rows_in: 0, rows_out: 0, errors: 0, dead_letters: 0, in_per_s: 0, out_per_s: 0, lag_records: 0, lag_seconds: 0 });

/** A flow's numbers summed over records (lag in seconds: the largest). */
export function flowSum(records: readonly StatusRecord[], flow: string): FlowSum & { replicas: number } {
  const s = zero();
  let replicas = 0;
  for (const r of records) {
    const f = r.flows[flow];
    if (!f) continue;
    replicas++;
    s.rows_in += f.rows_in;
    s.rows_out += f.rows_out;
    s.errors += f.errors;
    s.dead_letters += f.dead_letters;
    s.in_per_s += f.in_per_s;
    s.out_per_s += f.out_per_s;
    s.lag_records += f.lag_records;
    s.lag_seconds = Math.max(s.lag_seconds, f.lag_seconds);
  }
  return { ...s, replicas };
}

/** A function's numbers summed over records (p99: the largest of the replicas'). */
export function functionSum(records: readonly StatusRecord[], flow: string, fid: string, mode: string): FunctionNumbers {
  let rowsIn = 0, rowsOut = 0, rejected = 0, deadLettered = 0, inPerS = 0;
  let p99: number | null = null;
  for (const r of records) {
    for (const f of r.functions) {
      if (f.flow !== flow || f.fid !== fid) continue;
      rowsIn += f.rows_in;
      rowsOut += f.rows_out;
      rejected += f.rejected;
      deadLettered += f.dead_lettered;
      inPerS += f.in_per_s;
      if (f.p99_ms !== null) p99 = Math.max(p99 ?? 0, f.p99_ms);
    }
  }
  return { flow, fid, mode, rows_in: rowsIn, rows_out: rowsOut, rejected, dead_lettered: deadLettered, in_per_s: inPerS, p99_ms: p99 };
}

export function overviewOf(config: KisConfig, mode: 'embedded' | 'kafka', now: number, all: readonly (StatusRecord & { gone: boolean })[]): Overview {
  const live = all.filter((r) => !r.gone);
  return {
    app_id: config.global.appId, mode, now, replicas: all,
    flows: [...config.flows.values()].map((f) => ({ flow: f.id, name: f.name, enabled: f.enabled, ...flowSum(live, f.id) })),
  };
}

/** sources -> flows -> functions -> connectors -> flows, as `kisflow graph` draws it, with live numbers. */
export function graphOf(config: KisConfig, live: readonly StatusRecord[]): Graph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const flowIn = new Map<string, number>();
  for (const f of config.flows.values()) flowIn.set(f.id, flowSum(live, f.id).in_per_s);
  for (const s of config.sources.values()) {
    const feeds = s.flows.filter((id) => config.flows.has(id));
    // A source's rate: what the flows it feeds take in (the first of them; every one gets every row).
    const rate = feeds.length > 0 ? flowIn.get(feeds[0]!) ?? 0 : 0;
    nodes.push({ id: `source:${s.sid}`, kind: 'source', label: s.name || s.sid, type: s.type, live: { in_per_s: rate, out_per_s: rate } });
    for (const id of feeds) edges.push({ from: `source:${s.sid}`, to: `flow:${id}`, kind: 'feeds' });
  }
  const connIn = new Map<string, number>();
  for (const f of config.flows.values()) {
    const sum = flowSum(live, f.id);
    nodes.push({ id: `flow:${f.id}`, kind: 'flow', label: f.name, type: f.enabled ? 'enabled' : 'disabled', live: { in_per_s: sum.in_per_s, out_per_s: sum.out_per_s, dead_lettered: sum.dead_letters, lag_records: sum.lag_records } });
    let prev = `flow:${f.id}`;
    for (const step of f.steps) {
      const fn = config.funcs.get(step.fid);
      const mode = fn?.mode ?? '';
      const n = functionSum(live, f.id, step.fid, mode);
      const id = `function:${f.id}/${step.fid}`;
      const outPerS = n.rows_in > 0 ? n.in_per_s * (n.rows_out / n.rows_in) : 0;
      nodes.push({ id, kind: 'function', label: step.fid, flow: f.id, type: mode, live: { in_per_s: n.in_per_s, out_per_s: outPerS, rejected: n.rejected, dead_lettered: n.dead_lettered, p99_ms: n.p99_ms } });
      edges.push({ from: prev, to: id, kind: 'step' });
      prev = id;
      if (fn?.cid && config.conns.has(fn.cid)) {
        if (mode === 'Save') {
          edges.push({ from: id, to: `connector:${fn.cid}`, kind: 'save' });
          connIn.set(fn.cid, (connIn.get(fn.cid) ?? 0) + outPerS);
        }
        if (mode === 'Load') edges.push({ from: `connector:${fn.cid}`, to: id, kind: 'load' });
      }
    }
  }
  for (const c of config.conns.values()) {
    nodes.push({ id: `connector:${c.cid}`, kind: 'connector', label: c.name || c.cid, type: c.type, live: { in_per_s: connIn.get(c.cid) ?? 0, out_per_s: 0 } });
  }
  return { nodes, edges };
}
