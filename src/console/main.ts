// The page's entry: asks who is signed in (api/me), shows the login form or the console's frame (left nav,
// header, banner) and puts the view of the current hash route in it, stopping the previous view's timers.
import type { Me } from '../api/contract.js';
import { ApiFailure, getQuiet, postQuiet, setCsrf, whenUnauthenticated } from './api.js';
import { hideBanner, mountBanner } from './banner.js';
import { button, clear, el } from './dom.js';
import { currentRoute, href, onRouteChange, type Route } from './router.js';
import { current, isAdmin, setMe } from './session.js';
import type { Stop } from './view.js';
import { auditView } from './views/audit.js';
import { configView } from './views/config.js';
import { deadLettersView } from './views/dead-letters.js';
import { functionView } from './views/function-detail.js';
import { graphView } from './views/graph.js';
import { jobView } from './views/job.js';
import { jobsView } from './views/jobs.js';
import { loginView } from './views/login.js';
import { overviewView } from './views/overview.js';
import { usersView } from './views/users.js';

const app = document.getElementById('app')!;
let stopView: Stop = () => undefined;
let content: HTMLElement | null = null;
let nav: HTMLElement | null = null;

const NAV: readonly { readonly route: Route; readonly label: string; readonly admin?: boolean }[] = [
  { route: { name: 'overview' }, label: 'Overview' },
  { route: { name: 'graph' }, label: 'Flow graph' },
  { route: { name: 'dead-letters' }, label: 'Dead letters' },
  { route: { name: 'jobs' }, label: 'Jobs' },
  { route: { name: 'config' }, label: 'Config' },
  { route: { name: 'users' }, label: 'Users', admin: true },
  { route: { name: 'audit' }, label: 'Audit', admin: true },
];

/** The nav entry a route belongs to (a function page is part of the graph, a job of the jobs). */
function section(route: Route): Route['name'] {
  if (route.name === 'function') return 'graph';
  if (route.name === 'job') return 'jobs';
  return route.name;
}

function show(route: Route): void {
  if (!content || !nav) return;
  stopView();
  hideBanner();
  clear(content);
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', a.getAttribute('data-section') === section(route));
  const host = content;
  switch (route.name) {
    case 'overview': stopView = overviewView(host); break;
    case 'graph': stopView = graphView(host); break;
    case 'function': stopView = functionView(host, route.flow, route.fid); break;
    case 'dead-letters': stopView = deadLettersView(host, route.flow); break;
    case 'jobs': stopView = jobsView(host); break;
    case 'job': stopView = jobView(host, route.job); break;
    case 'config': stopView = configView(host); break;
    case 'users': stopView = isAdmin() ? usersView(host) : denied(host); break;
    case 'audit': stopView = isAdmin() ? auditView(host) : denied(host); break;
  }
}

function denied(host: HTMLElement): Stop {
  host.append(el('h1', {}, 'Not for your role'), el('p', {}, 'Only an admin sees this page.'));
  return () => undefined;
}

function frame(me: Me): void {
  stopView();
  clear(app);
  nav = el('nav', { class: 'nav', testid: 'nav' },
    el('div', { class: 'brand' }, el('img', { src: 'icon.svg', alt: '', width: 28, height: 28 }), el('span', {}, 'KisFlow')),
    ...NAV.filter((n) => !n.admin || me.role === 'admin').map((n) => el('a', { href: href(n.route), 'data-section': n.route.name, testid: `nav-${n.route.name}` }, n.label)),
    el('div', { class: 'nav-foot' }, `${me.app.app_id}`, el('br'), `${me.app.mode} · v${me.app.version}`));
  const banner = el('div', { class: 'banner-host' });
  mountBanner(banner);
  content = el('main', { class: 'content', testid: 'content' });
  app.append(nav, el('div', { class: 'page' },
    el('header', { class: 'top' }, el('span', { class: 'app-name', testid: 'app-id' }, me.app.app_id),
      el('span', { class: 'who' }, el('span', { testid: 'me-user' }, me.user), ' ', el('span', { class: `role ${me.role}`, testid: 'me-role' }, me.role), ' ',
        button('Log out', 'logout', logout))),
    banner, content));
  show(currentRoute());
}

/** Every role may log out (not a data-role-action). The server clears the HttpOnly cookie the page cannot touch. */
function logout(): void {
  // A refusal (a session already gone, a server that does not answer) still ends the session in this page.
  postQuiet<Record<string, never>>('logout', {}).catch(() => undefined).finally(() => {
    setCsrf('');
    login();
  });
}

function signedIn(me: Me): void {
  setMe(me);
  setCsrf(me.csrf);
  frame(me);
}

function login(): void {
  // Several requests of one view may be refused at once; one login form is enough.
  if (!current() && app.querySelector('[data-testid="login-form"]')) return;
  stopView();
  stopView = () => undefined;
  setMe(null);
  content = null;
  nav = null;
  clear(app);
  loginView(app, signedIn);
}

whenUnauthenticated(login);
onRouteChange((route) => { if (current()) show(route); });

getQuiet<Me>('me').then(signedIn).catch((e: unknown) => {
  if (e instanceof ApiFailure && e.status === 401) login();
});
