// Repair beyond dead letters, for operators: rewind a running flow (to a time or to the earliest offsets,
// api/flows/{flow}/rewind) and re-snapshot tables of a binlog source (api/sources/{sid}/snapshot).
import type { RewindRequest, RewindResult, SnapshotRequest, SnapshotResult } from '../../api/contract.js';
import { attempt, post, seg } from '../api.js';
import { showError, showNotice } from '../banner.js';
import { actionButton, card, el } from '../dom.js';

export interface RepairPanel {
  readonly node: HTMLElement;
  /** Keeps the choices in step with the deployment (flows, binlog sources) without losing what is typed. */
  update(flows: readonly string[], binlogSources: readonly string[]): void;
}

function sync(select: HTMLSelectElement, values: readonly string[]): void {
  const have = [...select.options].map((o) => o.value);
  if (have.join('\n') === values.join('\n')) return;
  const keep = select.value;
  select.replaceChildren(...values.map((v) => el('option', { value: v }, v)));
  if (values.includes(keep)) select.value = keep;
}

export function repairPanel(): RepairPanel {
  const flow = el('select', { testid: 'rewind-flow' });
  const earliest = el('input', { type: 'checkbox', testid: 'rewind-earliest' });
  const when = el('input', { type: 'datetime-local', step: 1, testid: 'rewind-to' });
  const rewind = actionButton('Rewind', 'rewind-send', () => {
    let to: RewindRequest['to'];
    if (earliest.checked) to = 'earliest';
    else {
      const t = new Date(when.value).getTime();
      if (!when.value || Number.isNaN(t)) { showError('pick the time to rewind to, or the earliest offsets', 'CONSOLE'); return; }
      to = t;
    }
    const body: RewindRequest = { to };
    attempt(async () => {
      const r = await post<RewindResult>(`flows/${seg(flow.value)}/rewind`, body);
      showNotice(`rewound ${r.flow}: ${r.partitions} partition(s); ${r.detail}`);
    });
  }, 'danger');
  const source = el('select', { testid: 'snapshot-source' });
  const tables = el('input', { placeholder: 'db.orders, db.users', testid: 'snapshot-tables', size: 30 });
  const snapshot = actionButton('Re-snapshot', 'snapshot-send', () => {
    const list = tables.value.split(',').map((t) => t.trim()).filter((t) => t !== '');
    if (list.length === 0) { showError('name at least one table to snapshot again', 'CONSOLE'); return; }
    const body: SnapshotRequest = { tables: list };
    attempt(async () => {
      const r = await post<SnapshotResult>(`sources/${seg(source.value)}/snapshot`, body);
      showNotice(`snapshot of ${list.join(', ')} requested from ${r.source} (request ${r.request_id})`);
    });
  }, 'plain');
  const snapshotRow = el('div', { class: 'toolbar' }, el('label', {}, 'Binlog source ', source), el('label', {}, 'Tables ', tables), snapshot);
  const node = card('Repair',
    el('div', { class: 'toolbar' }, el('label', {}, 'Rewind flow ', flow), el('label', {}, 'to ', when), el('label', { class: 'check' }, earliest, ' the earliest offsets'), rewind),
    snapshotRow);
  return {
    node,
    update(flows, binlogSources) {
      sync(flow, flows);
      sync(source, binlogSources);
      snapshotRow.hidden = binlogSources.length === 0;
    },
  };
}
