// Overview: the flows' numbers summed over live replicas, charts of the last half hour (api/history), and
// the replicas with the ones not heard from marked gone. Refreshes every few seconds.
import type { History, HistoryPoint, Overview } from '../../api/contract.js';
import { get } from '../api.js';
import { badge, card, clear, el, table } from '../dom.js';
import { ago, count, rate } from '../format.js';
import { lineChart, type Series } from '../line-chart.js';
import { href } from '../router.js';
import { canOperate } from '../session.js';
import { poll, type Stop } from '../view.js';
import { repairPanel } from './repair.js';

/** The points of the chosen flows added up per time (the history's times are aligned to its step). */
function summed(history: History, flow: string): HistoryPoint[] {
  const lists = flow === '' ? Object.values(history.flows) : [history.flows[flow] ?? []];
  const byT = new Map<number, HistoryPoint>();
  for (const list of lists) {
    for (const p of list) {
      const s = byT.get(p.t);
      byT.set(p.t, s === undefined ? p : {
        t: p.t,
        in_per_s: s.in_per_s + p.in_per_s,
        out_per_s: s.out_per_s + p.out_per_s,
        errors_per_s: s.errors_per_s + p.errors_per_s,
        dead_letters_per_s: s.dead_letters_per_s + p.dead_letters_per_s,
        lag_records: s.lag_records + p.lag_records,
        lag_seconds: Math.max(s.lag_seconds, p.lag_seconds),
      });
    }
  }
  return [...byT.values()].sort((a, b) => a.t - b.t);
}

function series(points: readonly HistoryPoint[], name: string, tone: string, pick: (p: HistoryPoint) => number): Series {
  return { name, tone, points: points.map((p) => ({ t: p.t, v: pick(p) })) };
}

function stat(label: string, value: string, testid: string, tone = ''): HTMLElement {
  return el('div', { class: `stat ${tone}` }, el('div', { class: 'stat-value', testid }, value), el('div', { class: 'stat-label' }, label));
}

export function overviewView(host: HTMLElement): Stop {
  let chosen = '';
  const stats = el('div', { class: 'stats' });
  const flows = el('div');
  const picker = el('select', { testid: 'history-flow' }, el('option', { value: '' }, 'all flows'));
  const charts = el('div', { class: 'charts' });
  const replicas = el('div');
  host.append(
    el('h1', {}, 'Overview'),
    stats,
    card('Flows', flows),
    card('Over the last 30 minutes', el('div', { class: 'toolbar' }, el('label', {}, 'Flow ', picker)), charts),
    card('Replicas', replicas),
  );
  const repair = canOperate() ? repairPanel() : null;
  if (repair) host.appendChild(repair.node);
  let lastHistory: History | null = null;
  const drawCharts = (): void => {
    if (!lastHistory) return;
    const points = summed(lastHistory, chosen);
    clear(charts);
    charts.append(
      lineChart('Rows per second', 'chart-rows', [series(points, 'in', 'c1', (p) => p.in_per_s), series(points, 'out', 'c2', (p) => p.out_per_s)], '/s'),
      lineChart('Errors and dead letters per second', 'chart-errors', [series(points, 'errors', 'c3', (p) => p.errors_per_s), series(points, 'dead letters', 'c4', (p) => p.dead_letters_per_s)], '/s'),
      lineChart('Lag', 'chart-lag', [series(points, 'records', 'c5', (p) => p.lag_records), series(points, 'seconds', 'c6', (p) => p.lag_seconds)]),
    );
  };
  picker.addEventListener('change', () => { chosen = picker.value; drawCharts(); });

  return poll(async () => {
    const [o, h] = await Promise.all([get<Overview>('overview'), get<History>('history', { minutes: 30 })]);
    const live = o.replicas.filter((r) => !r.gone).length;
    clear(stats);
    stats.append(
      stat('app', `${o.app_id} (${o.mode})`, 'overview-app'),
      stat('flows', String(o.flows.length), 'overview-flow-count'),
      stat('replicas live', `${live} / ${o.replicas.length}`, 'overview-replicas-live', live < o.replicas.length ? 'warn' : ''),
      stat('rows/s in', rate(o.flows.reduce((a, f) => a + f.in_per_s, 0)), 'overview-total-in'),
      stat('dead letters', count(o.flows.reduce((a, f) => a + f.dead_letters, 0)), 'overview-total-dead', o.flows.some((f) => f.dead_letters > 0) ? 'bad' : ''),
    );
    clear(flows);
    flows.appendChild(table('overview-flows', ['flow', 'rows/s in', 'rows/s out', 'rows in', 'errors', 'dead letters', 'lag records', 'lag s', 'replicas'],
      o.flows.map((f) => {
        const id = (k: string): string => `overview-flow-${f.flow}-${k}`;
        return el('tr', { testid: `overview-flow-${f.flow}` },
          el('td', {}, el('a', { href: href({ name: 'dead-letters', flow: f.flow }), title: 'dead letters of this flow' }, f.name || f.flow), f.enabled ? null : badge('disabled', 'muted')),
          el('td', { class: 'num', testid: id('in_per_s') }, rate(f.in_per_s)),
          el('td', { class: 'num', testid: id('out_per_s') }, rate(f.out_per_s)),
          el('td', { class: 'num', testid: id('rows_in') }, count(f.rows_in)),
          el('td', { class: `num ${f.errors > 0 ? 'warn' : ''}`, testid: id('errors') }, count(f.errors)),
          el('td', { class: `num ${f.dead_letters > 0 ? 'bad' : ''}`, testid: id('dead_letters') }, count(f.dead_letters)),
          el('td', { class: 'num', testid: id('lag_records') }, count(f.lag_records)),
          el('td', { class: 'num', testid: id('lag_seconds') }, rate(f.lag_seconds)),
          el('td', { class: 'num', testid: id('replicas') }, String(f.replicas)));
      }), 'no flows'));
    const known = new Set([...picker.options].map((opt) => opt.value));
    for (const f of o.flows) if (!known.has(f.flow)) picker.appendChild(el('option', { value: f.flow }, f.flow));
    lastHistory = h;
    repair?.update(o.flows.map((f) => f.flow),
      [...new Set(o.replicas.filter((r) => !r.gone).flatMap((r) => Object.entries(r.sources).filter(([, src]) => src.type === 'binlog').map(([sid]) => sid)))].sort());
    drawCharts();
    clear(replicas);
    replicas.appendChild(table('overview-replicas', ['replica', 'state', 'host', 'pid', 'config', 'flows', 'jobs running', 'last heard'],
      o.replicas.map((r) => el('tr', { testid: `replica-${r.replica}`, class: r.gone ? 'gone' : '' },
        el('td', {}, r.replica),
        el('td', { testid: `replica-${r.replica}-state` }, r.gone ? badge('gone', 'bad') : r.ready ? badge('ready', 'ok') : badge(`waiting: ${r.waiting.join(', ')}`, 'warn')),
        el('td', {}, r.host),
        el('td', { class: 'num' }, String(r.pid)),
        el('td', { class: 'mono' }, r.config_version.slice(0, 12)),
        el('td', { class: 'num' }, String(Object.keys(r.flows).length)),
        el('td', { class: 'num' }, String(r.jobs_running.length)),
        el('td', {}, ago(r.at, o.now)))), 'no replica has reported yet'));
  });
}
