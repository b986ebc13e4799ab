// One function of one flow (api/functions/{flow}/{fid}): its params as the function sees them, its numbers,
// and its latest dead letters.
import type { DeadLetter, FunctionDetail } from '../../api/contract.js';
import { get, seg } from '../api.js';
import { card, clear, el, pre, table } from '../dom.js';
import { count, ms, rate, time } from '../format.js';
import { href } from '../router.js';
import { poll, type Stop } from '../view.js';

export function deadLetterRows(letters: readonly DeadLetter[], onPick: (l: DeadLetter) => void): HTMLTableRowElement[] {
  return letters.map((l) => el('tr', { class: 'pick', testid: `dead-letter-${l.id}`, onclick: () => onPick(l) },
    el('td', {}, time(l.at)), el('td', {}, l.fn), el('td', { class: 'mono' }, l.code), el('td', {}, l.message), el('td', { class: 'mono' }, l.key ?? '–')));
}

export function functionView(host: HTMLElement, flow: string, fid: string): Stop {
  const head = el('div');
  const numbers = el('div', { class: 'stats' });
  const params = el('div');
  const letters = el('div');
  const picked = el('div', { testid: 'function-letter' });
  host.append(
    el('p', { class: 'crumbs' }, el('a', { href: href({ name: 'graph' }) }, 'Flow graph'), ' / ', flow, ' / ', fid),
    head, numbers,
    el('div', { class: 'two' }, card('Params', params), card('Recent dead letters', letters, picked)),
  );
  return poll(async () => {
    const d = await get<FunctionDetail>(`functions/${seg(flow)}/${seg(fid)}`);
    clear(head);
    head.append(el('h1', { testid: 'function-title' }, `${d.fname}`, el('span', { class: 'sub' }, ` ${d.mode} · step ${d.fid} of ${d.flow}`)),
      el('p', { class: 'hint' }, d.connector ? `connector ${d.connector}` : 'no connector', d.origin ? ` · defined in ${d.origin.file} (document ${d.origin.doc})` : ''));
    const n = d.numbers;
    clear(numbers);
    const stat = (label: string, value: string, key: string): HTMLElement =>
      el('div', { class: 'stat' }, el('div', { class: 'stat-value', testid: `function-${key}` }, value), el('div', { class: 'stat-label' }, label));
    numbers.append(stat('rows/s in', rate(n.in_per_s), 'in_per_s'), stat('rows in', count(n.rows_in), 'rows_in'), stat('rows out', count(n.rows_out), 'rows_out'),
      stat('rejected', count(n.rejected), 'rejected'), stat('dead-lettered', count(n.dead_lettered), 'dead_lettered'), stat('p99', ms(n.p99_ms), 'p99_ms'));
    clear(params);
    params.appendChild(pre(d.params, 'function-params'));
    clear(letters);
    letters.appendChild(table('function-dead-letters', ['at', 'function', 'code', 'message', 'key'], deadLetterRows(d.recent_dead_letters, (l) => {
      clear(picked);
      picked.append(el('h3', {}, `Row of ${l.id}`), pre(l.row ?? l.raw));
    }), 'no dead letters'));
  });
}
