// Dead letters of one flow: filter, look at a row and its headers, replay a selection, one letter, or all
// that match the filter (api/dead-letters, api/dead-letters/replay), and show what the replay did.
import type { DeadLetter, DeadLetterPage, DeadLetterQuery, Overview, ReplayRequest, ReplayResult } from '../../api/contract.js';
import { attempt, get, post } from '../api.js';
import { showNotice } from '../banner.js';
import { actionButton, badge, button, card, clear, el, pre, table } from '../dom.js';
import { count, time } from '../format.js';
import { canOperate } from '../session.js';
import type { Stop } from '../view.js';

type Filter = Omit<DeadLetterQuery, 'flow' | 'limit'>;

function whenMs(input: HTMLInputElement): number | undefined {
  if (!input.value) return undefined;
  const t = new Date(input.value).getTime();
  return Number.isNaN(t) ? undefined : t;
}

export function deadLettersView(host: HTMLElement, initialFlow: string | undefined): Stop {
  const flowPick = el('select', { testid: 'dl-flow' });
  const code = el('input', { placeholder: 'KIS_ERR_…', testid: 'dl-filter-code' });
  const fn = el('input', { placeholder: 'function', testid: 'dl-filter-fn' });
  const key = el('input', { placeholder: 'key', testid: 'dl-filter-key' });
  const since = el('input', { type: 'datetime-local', step: 1, testid: 'dl-filter-since' });
  const until = el('input', { type: 'datetime-local', step: 1, testid: 'dl-filter-until' });
  const fromStart = el('input', { type: 'checkbox', testid: 'dl-from-start' });
  const summary = el('div', { class: 'chips' });
  const list = el('div');
  const detail = el('div', { testid: 'dl-detail' });
  const result = el('div', { testid: 'replay-result' });
  const selected = new Set<string>();
  let page: DeadLetterPage | null = null;
  let applied: Filter = {};
  const operate = canOperate();

  const filter = (): Filter => {
    const f: { code?: string; fn?: string; key?: string; since?: number; until?: number } = {};
    if (code.value.trim()) f.code = code.value.trim();
    if (fn.value.trim()) f.fn = fn.value.trim();
    if (key.value.trim()) f.key = key.value.trim();
    const s = whenMs(since);
    const u = whenMs(until);
    if (s !== undefined) f.since = s;
    if (u !== undefined) f.until = u;
    return f;
  };

  const showResult = (r: ReplayResult): void => {
    clear(result);
    const c = r.counts;
    result.append(card('Replay result',
      el('div', { class: 'stats' }, ...(['out', 'rejected', 'dead_lettered', 'no_output', 'skipped_replayed', 'skipped_undecodable'] as const).map((k) =>
        el('div', { class: 'stat' }, el('div', { class: 'stat-value', testid: `replay-count-${k}` }, count(c[k])), el('div', { class: 'stat-label' }, k.replace(/_/g, ' '))))),
      table('replay-rows', ['letter', 'outcome', 'from step', 'code'], r.rows.map((row) => el('tr', {},
        el('td', { class: 'mono' }, row.id), el('td', {}, row.outcome), el('td', {}, row.from ?? '–'), el('td', { class: 'mono' }, row.code ?? ''))), 'no rows')));
    showNotice(`replayed ${r.rows.length} dead letter(s) of ${r.flow}`);
  };

  const replay = (req: Omit<ReplayRequest, 'flow' | 'from_start'>): void => attempt(async () => {
    const body: ReplayRequest = { flow: flowPick.value, ...req, from_start: fromStart.checked };
    showResult(await post<ReplayResult>('dead-letters/replay', body));
    await load();
  });

  const showDetail = (l: DeadLetter): void => {
    clear(detail);
    detail.append(card(`Letter ${l.id}`,
      el('p', {}, el('span', { class: 'mono' }, l.code), ` from ${l.fn}: ${l.message}`),
      el('p', { class: 'hint' }, `attempts ${l.attempts}`, l.source ? ` · source ${l.source.id}${l.source.topic ? ` ${l.source.topic}` : ''} partition ${l.source.partition} offset ${l.source.offset}` : ''),
      el('h3', {}, l.row ? 'Row' : 'Raw record (not JSON)'), pre(l.row ?? l.raw, 'dl-detail-row'),
      el('h3', {}, 'Headers'), pre(l.headers, 'dl-detail-headers'),
      operate ? actionButton('Replay this letter', 'dl-replay-one', () => replay({ ids: [l.id] })) : null));
  };

  const selectionButton = operate ? actionButton('Replay selected', 'dl-replay-selected', () => replay({ ids: [...selected] })) : null;
  const refreshSelection = (): void => {
    if (selectionButton) {
      selectionButton.disabled = selected.size === 0;
      selectionButton.textContent = `Replay selected (${selected.size})`;
    }
  };

  const draw = (): void => {
    clear(summary);
    clear(list);
    if (!page) return;
    summary.append(el('span', { class: 'chip', testid: 'dl-total' }, `${count(page.total)} matching`),
      ...Object.entries(page.by_code).map(([k, v]) => el('span', { class: 'chip code' }, `${k}: ${v}`)),
      ...Object.entries(page.by_fn).map(([k, v]) => el('span', { class: 'chip fn' }, `${k}: ${v}`)));
    const rows = page.letters.map((l) => {
      const box = el('input', { type: 'checkbox', testid: `dl-select-${l.id}`, 'aria-label': `select ${l.id}` });
      box.checked = selected.has(l.id);
      box.addEventListener('click', (e) => e.stopPropagation());
      box.addEventListener('change', () => { if (box.checked) selected.add(l.id); else selected.delete(l.id); refreshSelection(); });
      return el('tr', { class: 'pick', testid: `dl-row-${l.id}`, onclick: () => showDetail(l) },
        operate ? el('td', {}, box) : null,
        el('td', {}, time(l.at)), el('td', {}, l.fn), el('td', { class: 'mono' }, l.code), el('td', { class: 'wrap' }, l.message),
        el('td', { class: 'mono' }, l.key ?? '–'), el('td', { class: 'num' }, String(l.attempts)),
        el('td', {}, l.replayed ? badge('replayed', 'muted') : badge('waiting', 'warn')));
    });
    const heads = ['at', 'function', 'code', 'message', 'key', 'attempts', 'state'];
    list.appendChild(table('dl-table', operate ? ['', ...heads] : heads, rows, 'no dead letters match'));
    refreshSelection();
  };

  const load = async (): Promise<void> => {
    if (!flowPick.value) return;
    page = await get<DeadLetterPage>('dead-letters', { flow: flowPick.value, ...applied, limit: 200 });
    for (const id of [...selected]) if (!page.letters.some((l) => l.id === id)) selected.delete(id);
    draw();
  };

  const search = el('form', { class: 'filters', testid: 'dl-filters' },
    el('label', {}, 'Flow', flowPick), el('label', {}, 'Code', code), el('label', {}, 'Function', fn), el('label', {}, 'Key', key),
    el('label', {}, 'Since', since), el('label', {}, 'Until', until),
    el('button', { type: 'submit', class: 'btn primary', testid: 'dl-search' }, 'Search'));
  search.addEventListener('submit', (e) => {
    e.preventDefault();
    applied = filter();
    selected.clear();
    clear(detail);
    attempt(load);
  });
  flowPick.addEventListener('change', () => {
    selected.clear();
    clear(detail);
    history.replaceState(null, '', `#/dead-letters?flow=${encodeURIComponent(flowPick.value)}`);
    attempt(load);
  });

  host.append(
    el('h1', {}, 'Dead letters'),
    card('Find', search, summary),
    el('div', { class: 'toolbar' },
      operate ? el('label', { class: 'check' }, fromStart, ' replay from the first step') : null,
      selectionButton,
      operate ? actionButton('Replay all matching the filter', 'dl-replay-all', () => replay({ filter: applied }), 'plain') : null,
      button('Refresh', 'dl-refresh', () => attempt(load))),
    result,
    card('Letters', list),
    detail,
  );

  attempt(async () => {
    const o = await get<Overview>('overview');
    for (const f of o.flows) flowPick.appendChild(el('option', { value: f.flow }, f.flow));
    if (initialFlow && o.flows.some((f) => f.flow === initialFlow)) flowPick.value = initialFlow;
    await load();
  });
  return () => undefined;
}
