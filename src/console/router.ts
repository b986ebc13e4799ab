// Hash routes (`#/overview`, `#/flows/<flow>/functions/<fid>`, ...): the server serves one index.html for
// every path, and a hash never reaches it, so links work under any base path and survive a reload.

export type Route =
  | { readonly name: 'overview' }
  | { readonly name: 'graph' }
  | { readonly name: 'function'; readonly flow: string; readonly fid: string }
  | { readonly name: 'dead-letters'; readonly flow?: string }
  | { readonly name: 'jobs' }
  | { readonly name: 'job'; readonly job: string }
  | { readonly name: 'config' }
  | { readonly name: 'users' }
  | { readonly name: 'audit' };

function decode(s: string): string {
  try { return decodeURIComponent(s); }
  catch { return s; }
}

export function parse(hash: string): Route {
  const [pathPart = '', queryPart = ''] = hash.replace(/^#\/?/, '').split('?', 2);
  const parts = pathPart.split('/').filter((p) => p !== '').map(decode);
  const query = new URLSearchParams(queryPart);
  const [a, b, c, d] = parts;
  if (a === 'graph' && parts.length === 1) return { name: 'graph' };
  if (a === 'flows' && c === 'functions' && b !== undefined && d !== undefined && parts.length === 4) return { name: 'function', flow: b, fid: d };
  if (a === 'dead-letters' && parts.length === 1) {
    const flow = query.get('flow');
    return flow ? { name: 'dead-letters', flow } : { name: 'dead-letters' };
  }
  if (a === 'jobs' && parts.length === 1) return { name: 'jobs' };
  if (a === 'jobs' && b !== undefined && parts.length === 2) return { name: 'job', job: b };
  if (a === 'config' && parts.length === 1) return { name: 'config' };
  if (a === 'users' && parts.length === 1) return { name: 'users' };
  if (a === 'audit' && parts.length === 1) return { name: 'audit' };
  return { name: 'overview' };
}

export function href(route: Route): string {
  const e = encodeURIComponent;
  switch (route.name) {
    case 'function': return `#/flows/${e(route.flow)}/functions/${e(route.fid)}`;
    case 'job': return `#/jobs/${e(route.job)}`;
    case 'dead-letters': return route.flow ? `#/dead-letters?flow=${e(route.flow)}` : '#/dead-letters';
    default: return `#/${route.name}`;
  }
}

export function onRouteChange(fn: (route: Route) => void): void {
  window.addEventListener('hashchange', () => fn(parse(location.hash)));
}

export function currentRoute(): Route {
  return parse(location.hash);
}
