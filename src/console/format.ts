// How numbers and times look on the page (one place, so every view rounds the same way).

export function rate(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function ms(n: number | null | undefined): string {
  return n == null ? '–' : `${n < 10 ? n.toFixed(1) : n.toFixed(0)} ms`;
}

export function percent(ratio: number | null): string {
  return ratio == null ? '–' : `${(ratio * 100).toFixed(ratio === 1 ? 0 : 1)}%`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local date and time to the second (operators compare it with their own clock and logs). */
export function time(t: number | null | undefined): string {
  if (t == null) return '–';
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function clock(t: number): string {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** How long ago `t` was, relative to `now` (the server's clock when it sent one). */
export function ago(t: number | null | undefined, now: number = Date.now()): string {
  if (t == null) return '–';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function duration(from: number | null, to: number | null): string {
  if (from == null) return '–';
  const s = Math.max(0, ((to ?? Date.now()) - from) / 1000);
  return s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
}
