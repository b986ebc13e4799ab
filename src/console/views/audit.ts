// The audit trail (api/audit, admin): who did what, on what, with what outcome, newest first.
import type { AuditPage } from '../../api/contract.js';
import { get } from '../api.js';
import { badge, card, clear, el, table } from '../dom.js';
import { time } from '../format.js';
import { poll, type Stop } from '../view.js';

export function auditView(host: HTMLElement): Stop {
  const body = el('div');
  host.append(el('h1', {}, 'Audit'), card('Actions taken through the API', body));
  return poll(async () => {
    const page = await get<AuditPage>('audit', { limit: 200 });
    clear(body);
    body.append(table('audit', ['at', 'user', 'role', 'action', 'target', 'outcome', 'detail', 'replica'], page.records.map((r, i) => el('tr', { testid: `audit-${i}` },
      el('td', {}, time(r.at)), el('td', {}, r.user), el('td', {}, r.role), el('td', { class: 'mono' }, r.action), el('td', { class: 'mono wrap' }, r.target),
      el('td', {}, badge(r.outcome, r.outcome === 'ok' ? 'ok' : r.outcome === 'refused' ? 'warn' : 'bad')),
      el('td', { class: 'mono wrap small' }, JSON.stringify(r.detail)), el('td', { class: 'mono' }, r.replica)))));
  });
}
