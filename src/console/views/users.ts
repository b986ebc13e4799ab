// The configured users and their roles (api/users, admin).
import type { UserRow } from '../../api/contract.js';
import { attempt, get } from '../api.js';
import { badge, card, el, table } from '../dom.js';
import type { Stop } from '../view.js';

export function usersView(host: HTMLElement): Stop {
  const body = el('div');
  host.append(el('h1', {}, 'Users'), card('Users and roles', body));
  attempt(async () => {
    const users = await get<readonly UserRow[]>('users');
    body.append(table('users', ['user', 'role', 'scenes', 'signs in with'], users.map((u) => el('tr', { testid: `user-${u.user}` },
      el('td', {}, u.user), el('td', {}, badge(u.role, u.role === 'admin' ? 'bad' : u.role === 'operator' ? 'warn' : 'muted')),
      el('td', {}, u.scenes ? u.scenes.join(', ') : 'all'), el('td', {}, u.auth)))));
  });
  return () => undefined;
}
