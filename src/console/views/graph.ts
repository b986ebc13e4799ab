// The flow graph (api/graph) as SVG: sources, flows, their functions in step order and the connectors, left
// to right; every node shows its live numbers and is drawn again on each refresh. A function opens its page.
import type { Graph, GraphNode } from '../../api/contract.js';
import { get } from '../api.js';
import { card, clear, el, svg } from '../dom.js';
import { count, ms, rate } from '../format.js';
import { layoutGraph } from '../graph-layout.js';
import { href } from '../router.js';
import { poll, type Stop } from '../view.js';

const NODE_W = 196;
const NODE_H = 78;
const GAP_X = 64;
const GAP_Y = 26;
const MARGIN = 16;

const KIND_LABEL: Readonly<Record<GraphNode['kind'], string>> = { source: 'source', flow: 'flow', function: 'function', connector: 'connector' };

/** The figures under a node's title, each in its own element so a test can read one. */
function figures(n: GraphNode): { key: string; text: string; tone?: string }[] {
  const out: { key: string; text: string; tone?: string }[] = [
    { key: 'in_per_s', text: `${rate(n.live.in_per_s)}/s in` },
    { key: 'out_per_s', text: `${rate(n.live.out_per_s)}/s out` },
  ];
  if (n.live.rejected !== undefined) out.push({ key: 'rejected', text: `${count(n.live.rejected)} rej`, tone: n.live.rejected > 0 ? 'warn' : '' });
  if (n.live.dead_lettered !== undefined) out.push({ key: 'dead_lettered', text: `${count(n.live.dead_lettered)} dl`, tone: n.live.dead_lettered > 0 ? 'bad' : '' });
  if (n.kind === 'function') out.push({ key: 'p99_ms', text: `p99 ${ms(n.live.p99_ms)}` });
  if (n.live.lag_records !== undefined) out.push({ key: 'lag_records', text: `lag ${count(n.live.lag_records)}`, tone: n.live.lag_records > 0 ? 'warn' : '' });
  return out;
}

function shorten(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function drawGraph(graph: Graph): SVGSVGElement {
  const layout = layoutGraph(graph);
  const pos = new Map(layout.nodes.map((p) => [p.id, { x: MARGIN + p.col * (NODE_W + GAP_X), y: MARGIN + p.row * (NODE_H + GAP_Y) }] as const));
  const width = MARGIN * 2 + layout.cols * (NODE_W + GAP_X) - GAP_X;
  // Room under the last row for a backwards (load) edge, which runs below the nodes.
  const height = MARGIN * 2 + layout.rows * (NODE_H + GAP_Y);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'graph-svg', testid: 'graph-svg', role: 'img', 'aria-label': 'flow graph' });
  root.appendChild(svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head' }))));
  // Scaled down to the card's width when wider, never up (CSSOM, which the CSP allows, unlike a style attribute).
  root.style.maxWidth = `${width}px`;

  const edges = svg('g', { class: 'edges' });
  for (const e of graph.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    let d: string;
    if (b.x > a.x) {
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x;
      const y2 = b.y + NODE_H / 2;
      const mid = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
    }
    else {
      // Backwards (a connector loaded by an earlier flow or function): under the nodes, into the bottom.
      const x1 = a.x + NODE_W / 2;
      const y1 = a.y + NODE_H;
      const x2 = b.x + NODE_W / 2;
      const y2 = b.y + NODE_H;
      const low = Math.max(y1, y2) + GAP_Y * 0.8;
      d = `M${x1},${y1} C${x1},${low} ${x2},${low} ${x2},${y2}`;
    }
    edges.appendChild(svg('path', { d, class: `edge ${e.kind}`, 'marker-end': 'url(#arrow)', testid: `graph-edge-${e.from}->${e.to}` }));
  }
  root.appendChild(edges);

  for (const n of graph.nodes) {
    const p = pos.get(n.id);
    if (!p) continue;
    const clickable = n.kind === 'function' && n.flow !== undefined;
    const g = svg('g', { class: `node ${n.kind}${clickable ? ' link' : ''}`, transform: `translate(${p.x},${p.y})`, testid: `graph-node-${n.id}`, tabindex: clickable ? 0 : undefined });
    g.appendChild(svg('title', {}, `${KIND_LABEL[n.kind]} ${n.label} (${n.type})`));
    g.appendChild(svg('rect', { width: NODE_W, height: NODE_H, rx: 8, class: 'node-box' }));
    g.appendChild(svg('rect', { width: 5, height: NODE_H, rx: 2, class: 'node-band' }));
    g.appendChild(svg('text', { x: 14, y: 20, class: 'node-title' }, shorten(n.label, 24)));
    g.appendChild(svg('text', { x: NODE_W - 10, y: 20, class: 'node-type', 'text-anchor': 'end' }, shorten(n.type, 12)));
    const figs = figures(n);
    const line1 = svg('text', { x: 14, y: 44, class: 'node-figs' });
    const line2 = svg('text', { x: 14, y: 64, class: 'node-figs' });
    figs.forEach((f, i) => {
      const line = i < 2 ? line1 : line2;
      if (line.childNodes.length > 0) line.appendChild(svg('tspan', { class: 'sep' }, '  ·  '));
      line.appendChild(svg('tspan', { testid: `graph-node-${n.id}-${f.key}`, class: f.tone ?? '' }, f.text));
    });
    g.append(line1, line2);
    if (clickable) {
      const go = (): void => { location.hash = href({ name: 'function', flow: n.flow!, fid: n.id.slice(`function:${n.flow}/`.length) || n.label }); };
      g.addEventListener('click', go);
      g.addEventListener('keydown', (e) => { if ((e as KeyboardEvent).key === 'Enter') go(); });
    }
    root.appendChild(g);
  }
  return root;
}

export function graphView(host: HTMLElement): Stop {
  const canvas = el('div', { class: 'graph-wrap' });
  host.append(
    el('h1', {}, 'Flow graph'),
    card('Sources → flows → functions → connectors',
      el('p', { class: 'hint' }, 'Live numbers refresh every few seconds. Click a function for its params and recent dead letters.'),
      el('div', { class: 'legend graph-legend' },
        el('span', { class: 'key source' }, 'source'), el('span', { class: 'key flow' }, 'flow'),
        el('span', { class: 'key function' }, 'function'), el('span', { class: 'key connector' }, 'connector')),
      canvas),
  );
  return poll(async () => {
    const graph = await get<Graph>('graph');
    clear(canvas);
    canvas.appendChild(graph.nodes.length ? drawGraph(graph) : el('p', { class: 'empty' }, 'no flows configured'));
  });
}
