// Jobs grouped by scene (api/jobs) with the next fire, last status and success ratio, trigger now, the
// per-day success ratio (api/jobs/daily) and the executors (api/executors).
import type { Executor, JobDaily, JobRow } from '../../api/contract.js';
import { get } from '../api.js';
import { badge, card, clear, el, table } from '../dom.js';
import { ago, percent, time } from '../format.js';
import { lineChart } from '../line-chart.js';
import { href } from '../router.js';
import { canOperate } from '../session.js';
import { poll, type Stop } from '../view.js';
import { triggerForm } from './trigger-form.js';

export function statusBadge(status: string | null): HTMLElement {
  if (status == null) return badge('never ran', 'muted');
  if (status === 'succeeded' || status === 'success' || status === 'ok') return badge(status, 'ok');
  if (status === 'running' || status === 'queued' || status === 'scheduled') return badge(status, 'warn');
  return badge(status, 'bad');
}

function dayTime(day: string): number {
  return new Date(`${day}T12:00:00`).getTime();
}

export function jobsView(host: HTMLElement): Stop {
  const scenes = el('div');
  const daily = el('div', { class: 'charts' });
  const executors = el('div');
  host.append(el('h1', {}, 'Jobs'), scenes, card('Success per day', daily), card('Executors', executors));
  // The job tables are built once per set of jobs, so an open trigger form survives a refresh.
  let shape = '';
  const cells = new Map<string, { next: HTMLElement; status: HTMLElement; ratio: HTMLElement; runs: HTMLElement }>();
  const drawJobs = (jobs: readonly JobRow[]): void => {
    const byScene = new Map<string, JobRow[]>();
    for (const j of jobs) byScene.set(j.scene, [...(byScene.get(j.scene) ?? []), j]);
    clear(scenes);
    cells.clear();
    if (jobs.length === 0) scenes.append(card('Jobs', el('p', { class: 'empty' }, 'no jobs configured')));
    for (const [scene, list] of [...byScene].sort(([a], [b]) => a.localeCompare(b))) {
      const rows = list.map((j) => {
        const c = { next: el('td', {}), status: el('td', {}), ratio: el('td', { class: 'num' }), runs: el('td', { class: 'num' }) };
        cells.set(j.job, c);
        return el('tr', { testid: `job-${j.job}` },
          el('td', {}, el('a', { href: href({ name: 'job', job: j.job }), testid: `job-link-${j.job}` }, j.name || j.job), j.enabled ? null : badge('disabled', 'muted')),
          el('td', { class: 'mono' }, j.trigger), el('td', { class: 'mono' }, j.runs_what), c.next, c.status, c.ratio, c.runs,
          el('td', {}, canOperate(j.scene) ? triggerForm(j.job, () => undefined) : null));
      });
      scenes.append(card(`Scene ${scene}`, table(`jobs-scene-${scene}`, ['job', 'trigger', 'runs', 'next fire', 'last status', 'success', 'runs so far', ''], rows)));
    }
  };
  const fill = (jobs: readonly JobRow[]): void => {
    for (const j of jobs) {
      const c = cells.get(j.job);
      if (!c) continue;
      clear(c.next); c.next.append(time(j.next_fire));
      clear(c.status); c.status.append(statusBadge(j.last_status), j.last_run_at ? el('span', { class: 'sub' }, ` ${ago(j.last_run_at)}`) : '');
      c.ratio.textContent = percent(j.success_ratio);
      c.ratio.setAttribute('data-testid', `job-${j.job}-ratio`);
      c.runs.textContent = String(j.runs);
    }
  };
  return poll(async () => {
    const [jobs, d, ex] = await Promise.all([get<readonly JobRow[]>('jobs'), get<JobDaily>('jobs/daily', { days: 7 }), get<readonly Executor[]>('executors')]);
    const now = jobs.map((j) => `${j.scene}/${j.job}/${canOperate(j.scene)}`).join('|');
    if (now !== shape) { shape = now; drawJobs(jobs); }
    fill(jobs);
    clear(daily);
    const keys = [...new Set(d.by_scene.map((r) => r.key))].sort();
    daily.appendChild(lineChart('Succeeded / finished runs, per scene and day', 'chart-jobs-daily', keys.map((k, i) => ({
      name: k, tone: `c${(i % 6) + 1}`,
      points: d.by_scene.filter((r) => r.key === k).map((r) => ({ t: dayTime(r.day), v: r.ratio * 100 })).sort((a, b) => a.t - b.t),
    })), '%', (t) => new Date(t).toISOString().slice(5, 10)));
    clear(executors);
    executors.appendChild(table('executors', ['executor', 'host', 'pid', 'started', 'partitions', 'heartbeat', 'running'], ex.map((x) => el('tr', { testid: `executor-${x.id}` },
      el('td', { class: 'mono' }, x.id), el('td', {}, x.host), el('td', { class: 'num' }, String(x.pid)), el('td', {}, time(x.started)),
      el('td', { class: 'mono' }, x.partitions.join(', ') || '–'), el('td', {}, ago(x.heartbeat)), el('td', { class: 'num' }, String(x.jobs_running.length)))), 'no executors'));
  });
}
