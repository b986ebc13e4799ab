// "Trigger now" with params: a JSON textarea checked only for being a JSON object (the server validates the
// params against the job), then POST api/jobs/{job}/trigger.
import type { TriggerRequest, TriggerResult } from '../../api/contract.js';
import { attempt, post, seg } from '../api.js';
import { showNotice } from '../banner.js';
import { actionButton, button, el } from '../dom.js';

export function triggerForm(job: string, done: (r: TriggerResult) => void): HTMLElement {
  const text = el('textarea', { class: 'code', rows: 4, spellcheck: 'false', testid: `trigger-params-${job}` });
  text.value = '{}';
  const problem = el('span', { class: 'field-problem', testid: `trigger-problem-${job}` });
  const box = el('div', { class: 'trigger-form', hidden: true, testid: `trigger-form-${job}` });
  const send = actionButton('Send', `trigger-send-${job}`, () => {
    let params: unknown;
    try { params = JSON.parse(text.value || '{}'); }
    catch (e) {
      problem.textContent = `not JSON: ${e instanceof Error ? e.message : String(e)}`;
      return;
    }
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      problem.textContent = 'params must be a JSON object';
      return;
    }
    problem.textContent = '';
    const body: TriggerRequest = { params: params as Record<string, unknown> };
    attempt(async () => {
      const r = await post<TriggerResult>(`jobs/${seg(job)}/trigger`, body);
      showNotice(`trigger of ${r.job} sent (request ${r.request_id})`);
      box.hidden = true;
      done(r);
    });
  });
  box.append(el('label', {}, 'Params (JSON object)', text), el('div', { class: 'row' }, send, button('Cancel', `trigger-cancel-${job}`, () => { box.hidden = true; }), problem));
  const open = actionButton('Trigger now', `trigger-open-${job}`, () => { box.hidden = !box.hidden; if (!box.hidden) text.focus(); }, 'plain');
  return el('div', { class: 'trigger' }, open, box);
}
