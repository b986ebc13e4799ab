// Where each node of the flow graph goes: columns left to right (sources, flows, each flow's functions in
// step order, connectors), one row per flow with its chain of functions on it, sources and connectors next
// to the rows they touch. Pure (no DOM), so it is unit-tested on its own.
import type { Graph } from '../api/contract.js';

export interface Placed {
  readonly id: string;
  readonly col: number;
  readonly row: number;
}

export interface Layout {
  readonly nodes: readonly Placed[];
  readonly cols: number;
  readonly rows: number;
}

/** Spreads wanted rows apart so that no two nodes of one column share a row (keeps their order). */
function settle(wanted: readonly { id: string; row: number }[]): Map<string, number> {
  const sorted = [...wanted].sort((a, b) => a.row - b.row || a.id.localeCompare(b.id));
  const out = new Map<string, number>();
  let next = 0;
  for (const w of sorted) {
    const row = Math.max(next, Math.round(w.row));
    out.set(w.id, row);
    next = row + 1;
  }
  return out;
}

export function layoutGraph(graph: Graph): Layout {
  const kind = new Map(graph.nodes.map((n) => [n.id, n.kind] as const));
  const flows = graph.nodes.filter((n) => n.kind === 'flow').map((n) => n.id);
  const flowRow = new Map(flows.map((id, i) => [id, i] as const));

  // Step edges give each function its place in its flow's chain (longest path from the flow).
  const steps = graph.edges.filter((e) => e.kind === 'step');
  const depth = new Map<string, number>();
  const functionFlow = new Map<string, string>();
  for (const flow of flows) {
    let frontier = [flow];
    let d = 0;
    const seen = new Set<string>([flow]);
    while (frontier.length > 0 && d < graph.nodes.length) {
      d += 1;
      const next: string[] = [];
      for (const from of frontier) {
        for (const e of steps) {
          if (e.from !== from || kind.get(e.to) !== 'function' || seen.has(e.to)) continue;
          seen.add(e.to);
          depth.set(e.to, d);
          functionFlow.set(e.to, flow);
          next.push(e.to);
        }
      }
      frontier = next;
    }
  }
  // A function no step reaches still sits on its flow's row, after the chain.
  for (const n of graph.nodes) {
    if (n.kind !== 'function' || depth.has(n.id)) continue;
    const flow = n.flow !== undefined ? `flow:${n.flow}` : undefined;
    const chain = [...depth.entries()].filter(([id]) => functionFlow.get(id) === flow).map(([, d]) => d);
    depth.set(n.id, (chain.length ? Math.max(...chain) : 0) + 1);
    if (flow !== undefined && flowRow.has(flow)) functionFlow.set(n.id, flow);
  }
  const maxDepth = Math.max(0, ...depth.values());
  const connectorCol = 2 + maxDepth;

  const rowOf = (id: string): number | undefined => {
    if (flowRow.has(id)) return flowRow.get(id);
    const f = functionFlow.get(id);
    return f === undefined ? undefined : flowRow.get(f);
  };
  const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.POSITIVE_INFINITY);
  const neighbourRows = (id: string): number[] => graph.edges
    .flatMap((e) => (e.from === id ? [e.to] : e.to === id ? [e.from] : []))
    .map(rowOf).filter((r): r is number => r !== undefined);

  const placed: Placed[] = [];
  for (const id of flows) placed.push({ id, col: 1, row: flowRow.get(id)! });
  for (const [id, d] of depth) {
    const row = rowOf(id);
    placed.push({ id, col: 1 + d, row: row ?? flows.length });
  }
  const sources = settle(graph.nodes.filter((n) => n.kind === 'source').map((n) => ({ id: n.id, row: mean(neighbourRows(n.id)) })).map((w) => ({ ...w, row: Number.isFinite(w.row) ? w.row : flows.length })));
  for (const [id, row] of sources) placed.push({ id, col: 0, row });
  const connectors = settle(graph.nodes.filter((n) => n.kind === 'connector').map((n) => ({ id: n.id, row: mean(neighbourRows(n.id)) })).map((w) => ({ ...w, row: Number.isFinite(w.row) ? w.row : flows.length })));
  for (const [id, row] of connectors) placed.push({ id, col: connectorCol, row });

  // Functions without a flow row share the row after the flows; spread them so none overlap.
  const seenCells = new Set<string>();
  const final = placed.map((p) => {
    let row = p.row;
    while (seenCells.has(`${p.col}:${row}`)) row += 1;
    seenCells.add(`${p.col}:${row}`);
    return { ...p, row };
  });
  return {
    nodes: final,
    cols: connectorCol + 1,
    rows: Math.max(1, ...final.map((p) => p.row + 1)),
  };
}
