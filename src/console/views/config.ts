// The config: its documents and modules (api/config), the problems of the loaded config, an editor for a
// document's file or a function module, Validate, Try it with sample rows, Apply (admin) and the edit list.
import type { ApplyRequest, ApplyResult, ConfigFiles, ConfigProblem, ConfigView, TryRequest, TryResult, ValidateRequest, ValidateResult } from '../../api/contract.js';
import { attempt, get, post } from '../api.js';
import { showError, showNotice } from '../banner.js';
import { actionButton, badge, button, card, clear, el, pre, table } from '../dom.js';
import { time } from '../format.js';
import { canOperate, isAdmin } from '../session.js';
import type { Stop } from '../view.js';

function problemRows(problems: readonly ConfigProblem[]): HTMLTableRowElement[] {
  return problems.map((p, i) => el('tr', { testid: `problem-${i}` },
    el('td', { class: 'mono' }, p.code), el('td', { class: 'mono' }, p.file ?? ''),
    el('td', { class: 'num' }, p.line !== undefined ? String(p.line) : ''), el('td', { class: 'num' }, p.column !== undefined ? String(p.column) : ''),
    el('td', { class: 'mono' }, p.path ?? ''), el('td', { class: 'wrap' }, p.message)));
}

const PROBLEM_HEADS = ['code', 'file', 'line', 'column', 'path', 'message'];

/** A file's text: a module as is, a YAML file as its documents in order. */
function fileText(view: ConfigView, file: string): string {
  const mod = view.modules.find((m) => m.file === file);
  if (mod) return mod.text;
  return view.documents.filter((d) => d.file === file).sort((a, b) => a.doc - b.doc).map((d) => d.yaml.replace(/\n?$/, '\n')).join('---\n');
}

export function configView(host: HTMLElement): Stop {
  const summary = el('div');
  const problems = el('div');
  const docs = el('div');
  const edits = el('div');
  const filePick = el('select', { testid: 'config-file' });
  const gutter = el('pre', { class: 'gutter', 'aria-hidden': 'true' });
  const editor = el('textarea', { class: 'code editor', spellcheck: 'false', wrap: 'off', testid: 'config-editor', rows: 22 });
  const changed = el('div', { class: 'chips', testid: 'config-changed' });
  const checkOut = el('div', { testid: 'config-validate-result' });
  const tryFlow = el('select', { testid: 'try-flow' });
  const tryRows = el('textarea', { class: 'code', rows: 6, spellcheck: 'false', testid: 'try-rows' });
  tryRows.value = '[\n  {}\n]';
  const tryOut = el('div', { testid: 'try-result' });
  const message = el('input', { placeholder: 'what this edit does', testid: 'apply-message', size: 40 });
  const files = new Map<string, string | null>();
  let view: ConfigView | null = null;
  let shown = '';

  const numberLines = (): void => {
    const n = editor.value.split('\n').length;
    gutter.textContent = Array.from({ length: n }, (_, i) => String(i + 1)).join('\n');
    gutter.scrollTop = editor.scrollTop;
  };
  editor.addEventListener('input', () => {
    if (!view || !shown) return;
    if (editor.value === fileText(view, shown)) files.delete(shown);
    else files.set(shown, editor.value);
    numberLines();
    drawChanged();
  });
  editor.addEventListener('scroll', () => { gutter.scrollTop = editor.scrollTop; });
  const open = (file: string): void => {
    if (!view) return;
    shown = file;
    editor.value = files.get(file) ?? fileText(view, file);
    numberLines();
  };
  filePick.addEventListener('change', () => open(filePick.value));
  const drawChanged = (): void => {
    clear(changed);
    changed.append(...[...files.keys()].map((f) => el('span', { class: 'chip' }, `edited: ${f}`)));
  };
  const edited = (): ConfigFiles => Object.fromEntries(files);

  const validate = (): void => attempt(async () => {
    const body: ValidateRequest = { files: edited() };
    const r = await post<ValidateResult>('config/validate', body);
    clear(checkOut);
    checkOut.append(r.valid ? el('p', { class: 'ok-text', testid: 'config-valid' }, 'valid') : table('validate-problems', PROBLEM_HEADS, problemRows(r.problems)));
  });
  const tryIt = (): void => attempt(async () => {
    let rows: unknown;
    try { rows = JSON.parse(tryRows.value); }
    catch (e) { showError(`sample rows are not JSON: ${e instanceof Error ? e.message : String(e)}`, 'CONSOLE'); return; }
    if (!Array.isArray(rows)) { showError('sample rows must be a JSON array of objects', 'CONSOLE'); return; }
    const body: TryRequest = { files: edited(), flow: tryFlow.value, rows: rows as Record<string, unknown>[] };
    const r = await post<TryResult>('config/try', body);
    clear(tryOut);
    tryOut.append(
      r.problems.length ? table('try-problems', PROBLEM_HEADS, problemRows(r.problems)) : el('span'),
      el('div', { class: 'two' },
        el('div', {}, el('h3', {}, `Output (${r.output.length})`), pre(r.output, 'try-output')),
        el('div', {}, el('h3', {}, `Saved by connector`), pre(r.saved, 'try-saved'))),
      el('div', { class: 'two' },
        el('div', {}, el('h3', {}, `Rejects (${r.rejects.length})`), pre(r.rejects, 'try-rejects')),
        el('div', {}, el('h3', {}, `Dead letters (${r.dead_letters.length})`), pre(r.dead_letters, 'try-dead-letters'))));
  });
  const apply = (): void => attempt(async () => {
    if (!message.value.trim()) { showError('say what the edit does (message)', 'CONSOLE'); return; }
    const body: ApplyRequest = { files: edited(), message: message.value.trim() };
    const r = await post<ApplyResult>('config/apply', body);
    if (r.problems.length) {
      clear(checkOut);
      checkOut.append(table('validate-problems', PROBLEM_HEADS, problemRows(r.problems)));
      return;
    }
    showNotice(`applied as version ${r.version}`);
    files.clear();
    drawChanged();
    clear(checkOut);
    message.value = '';
    await load();
  });

  host.append(
    el('h1', {}, 'Config'), summary,
    card('Problems of the loaded config', problems),
    card('Edit',
      el('div', { class: 'toolbar' }, el('label', {}, 'File ', filePick), changed),
      el('div', { class: 'editor-wrap' }, gutter, editor),
      el('div', { class: 'toolbar' },
        button('Validate', 'config-validate', validate),
        isAdmin() ? el('span', { class: 'row' }, message, actionButton('Apply', 'config-apply', apply)) : null),
      checkOut),
    canOperate() ? card('Try it', el('div', { class: 'toolbar' }, el('label', {}, 'Flow ', tryFlow)),
      el('label', { class: 'block' }, 'Sample rows (JSON array)', tryRows), actionButton('Try it', 'config-try', tryIt), tryOut) : el('span'),
    card('Documents', docs),
    card('Applied edits', edits),
  );

  const load = async (): Promise<void> => {
    view = await get<ConfigView>('config');
    const v = view;
    clear(summary);
    summary.append(el('p', { class: 'hint' }, 'version ', el('span', { class: 'mono', testid: 'config-version' }, v.version), v.problems.length ? badge(`${v.problems.length} problem(s)`, 'bad') : badge('valid', 'ok')));
    clear(problems);
    problems.append(v.problems.length ? table('config-problems', PROBLEM_HEADS, problemRows(v.problems)) : el('p', { class: 'ok-text' }, 'none'));
    clear(docs);
    docs.append(table('config-documents', ['kistype', 'id', 'file', 'doc', 'from'], v.documents.map((d) => el('tr', { class: 'pick', testid: `doc-${d.kistype}-${d.id}`, onclick: () => { filePick.value = d.file; open(d.file); } },
      el('td', {}, d.kistype), el('td', { class: 'mono' }, d.id), el('td', { class: 'mono' }, d.file), el('td', { class: 'num' }, String(d.doc)),
      el('td', {}, d.from === 'edit' ? badge(`edit v${d.edit_version ?? '?'}`, 'warn') : badge('mounted', 'muted')))).concat(
      v.modules.map((m) => el('tr', { class: 'pick', testid: `module-${m.file}`, onclick: () => { filePick.value = m.file; open(m.file); } },
        el('td', {}, 'module'), el('td', {}, ''), el('td', { class: 'mono' }, m.file), el('td', {}, ''),
        el('td', {}, m.from === 'edit' ? badge('edit', 'warn') : badge('mounted', 'muted')))))));
    clear(edits);
    edits.append(table('config-edits', ['version', 'at', 'user', 'message', 'files'], v.edits.map((e) => el('tr', {},
      el('td', { class: 'num' }, String(e.version)), el('td', {}, time(e.at)), el('td', {}, e.user), el('td', { class: 'wrap' }, e.message), el('td', { class: 'mono' }, e.files.join(', ')))), 'no edits applied'));
    const names = [...new Set([...v.documents.map((d) => d.file), ...v.modules.map((m) => m.file)])].sort();
    clear(filePick);
    filePick.append(...names.map((n) => el('option', { value: n }, n)));
    clear(tryFlow);
    tryFlow.append(...v.documents.filter((d) => d.kistype === 'flow').map((d) => el('option', { value: d.id }, d.id)));
    const keep = shown && names.includes(shown) ? shown : names[0] ?? '';
    filePick.value = keep;
    if (keep) open(keep);
  };
  attempt(load);
  return () => undefined;
}
