// One job's run history (api/jobs/{job}/runs): status, times, executor, rows, error and the log lines of
// each run (expandable), with kill for a running run and trigger now.
import type { JobRow, JobRun, JobRuns, KillResult } from '../../api/contract.js';
import { attempt, get, post, seg } from '../api.js';
import { showNotice } from '../banner.js';
import { actionButton, card, clear, el, table } from '../dom.js';
import { count, duration, percent, time } from '../format.js';
import { href } from '../router.js';
import { canOperate } from '../session.js';
import { poll, type Stop } from '../view.js';
import { statusBadge } from './jobs.js';
import { triggerForm } from './trigger-form.js';

function logCell(run: JobRun): HTMLElement {
  if (run.log.length === 0 && !run.error) return el('td', { class: 'sub' }, '–');
  const details = el('details', { testid: `run-log-${run.run_id}` },
    el('summary', {}, `${run.log.length} line(s)${run.log_dropped ? `, ${run.log_dropped} dropped` : ''}`),
    el('pre', { class: 'log' }, run.log.join('\n')));
  return el('td', { class: 'wrap' }, details);
}

export function jobView(host: HTMLElement, job: string): Stop {
  const head = el('div');
  const runs = el('div');
  // Open log panels stay open across refreshes.
  const open = new Set<string>();
  host.append(el('p', { class: 'crumbs' }, el('a', { href: href({ name: 'jobs' }) }, 'Jobs'), ' / ', job), head, card('Runs', runs));
  let drawnHead = false;
  return poll(async () => {
    const [list, r] = await Promise.all([get<readonly JobRow[]>('jobs'), get<JobRuns>(`jobs/${seg(job)}/runs`, { limit: 50 })]);
    const row = list.find((j) => j.job === job);
    const mayAct = canOperate(row?.scene);
    if (!drawnHead) {
      drawnHead = true;
      head.append(el('h1', { testid: 'job-title' }, row?.name ?? job, el('span', { class: 'sub' }, row ? ` scene ${row.scene} · ${row.trigger} · ${row.runs_what} · success ${percent(row.success_ratio)}` : '')),
        el('div', { class: 'toolbar' }, mayAct ? triggerForm(job, () => undefined) : null));
    }
    for (const d of runs.querySelectorAll('details')) {
      const id = d.getAttribute('data-testid')?.replace(/^run-log-/, '');
      if (id) { if (d.open) open.add(id); else open.delete(id); }
    }
    clear(runs);
    runs.appendChild(table('job-runs', ['run', 'status', 'started', 'took', 'executor', 'shard · attempt', 'rows in → out', 'error', 'log'],
      r.runs.map((run) => {
        const log = logCell(run);
        const details = log.querySelector('details');
        if (details && open.has(run.run_id)) details.open = true;
        return el('tr', { testid: `run-${run.run_id}` },
          el('td', { class: 'mono' }, run.run_id),
          el('td', { testid: `run-${run.run_id}-status` }, statusBadge(run.status), ' ',
            mayAct && run.status === 'running' ? actionButton('Kill', `kill-${run.run_id}`, () => attempt(async () => {
              const k = await post<KillResult>(`runs/${seg(run.run_id)}/kill`, {});
              showNotice(k.sent ? `kill sent to run ${k.run_id}` : `run ${k.run_id} was not running`);
            }), 'danger') : null),
          el('td', { title: `scheduled ${time(run.scheduled_at)}` }, time(run.started_at ?? run.scheduled_at)), el('td', {}, duration(run.started_at, run.ended_at)),
          el('td', { class: 'mono' }, run.executor), el('td', { class: 'num' }, `${run.shard + 1}/${run.shards} · #${run.attempt}`),
          el('td', { class: 'num' }, `${count(run.rows_in)} → ${count(run.rows_out)}`),
          el('td', { class: 'wrap bad-text' }, run.error ?? ''), log);
      }), 'no runs yet'));
  });
}
