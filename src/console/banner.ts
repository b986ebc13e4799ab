// The visible message area under the header: the server's refusals (ApiError message and code) and short
// confirmations. One banner for the whole page, so a failure is never hidden inside a view that moved on.
import { clear, el } from './dom.js';

let host: HTMLElement | null = null;

export function mountBanner(node: HTMLElement): void {
  host = node;
}

function show(kind: 'error' | 'notice', text: string, code?: string): void {
  if (!host) return;
  clear(host);
  const close = el('button', { type: 'button', class: 'banner-close', 'aria-label': 'dismiss', onclick: () => hideBanner() }, '×');
  host.appendChild(el('div', { class: `banner ${kind}`, role: kind === 'error' ? 'alert' : 'status', testid: kind === 'error' ? 'error-banner' : 'notice-banner' },
    code ? el('span', { class: 'banner-code', testid: 'error-code' }, code) : null,
    el('span', { class: 'banner-text', testid: kind === 'error' ? 'error-message' : 'notice-message' }, text),
    close));
}

export function showError(message: string, code?: string): void {
  show('error', message, code);
}

export function showNotice(message: string): void {
  show('notice', message);
}

export function hideBanner(): void {
  if (host) clear(host);
}
