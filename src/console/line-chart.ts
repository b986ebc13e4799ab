// A small SVG line chart: one or more series over time, a y axis from zero to a rounded maximum, and a
// legend. Enough for rates and lag; the page draws it again on each refresh.
import { el, svg } from './dom.js';
import { clock } from './format.js';

export interface Series {
  readonly name: string;
  readonly points: readonly { readonly t: number; readonly v: number }[];
  /** A CSS class giving the line its colour (c1..c6). */
  readonly tone: string;
}

const W = 520;
const H = 180;
const PAD = { left: 48, right: 12, top: 12, bottom: 24 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function label(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(v >= 1e4 ? 0 : 1)}k`;
  return String(Number(v.toFixed(2)));
}

/** `tick` labels the x axis (default: the time of day; the jobs' chart gives the day). */
export function lineChart(title: string, testid: string, series: readonly Series[], unit = '', tick: (t: number) => string = clock): HTMLElement {
  const all = series.flatMap((s) => s.points);
  const box = el('figure', { class: 'chart', testid });
  box.appendChild(el('figcaption', {}, title));
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': title });
  box.appendChild(chart);
  if (all.length === 0) {
    chart.appendChild(svg('text', { x: W / 2, y: H / 2, class: 'chart-empty', 'text-anchor': 'middle' }, 'no data yet'));
    return box;
  }
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t), t0 + 1);
  const max = niceMax(Math.max(...all.map((p) => p.v)));
  const x = (t: number): number => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number): number => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    chart.appendChild(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'grid' }));
    chart.appendChild(svg('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, `${label(v)}${i === 4 ? unit : ''}`));
  }
  const ticks: [number, string][] = [[t0, 'start'], [(t0 + t1) / 2, 'middle'], [t1, 'end']];
  for (const [t, anchor] of ticks) {
    chart.appendChild(svg('text', { x: x(t), y: H - 6, 'text-anchor': anchor, class: 'axis' }, tick(t)));
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    chart.appendChild(svg('path', { d, class: `line ${s.tone}`, 'data-series': s.name }));
  }
  box.appendChild(el('div', { class: 'legend' }, ...series.map((s) => el('span', { class: `key ${s.tone}` }, s.name))));
  return box;
}
