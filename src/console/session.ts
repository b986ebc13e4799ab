// Who is signed in, and what the page offers them. The server decides (and refuses with 403); the page only
// hides what would be refused, so that a viewer is not shown buttons that cannot work.
import type { Me } from '../api/contract.js';

let me: Me | null = null;

export function setMe(value: Me | null): void {
  me = value;
}

export function current(): Me | null {
  return me;
}

/** An operator or admin: replay, trigger, kill, try. For jobs, only in the operator's scenes when it has some. */
export function canOperate(scene?: string): boolean {
  if (!me || me.role === 'viewer') return false;
  if (scene === undefined || me.role === 'admin' || me.scenes === undefined) return true;
  return me.scenes.includes(scene);
}

export function isAdmin(): boolean {
  return me?.role === 'admin';
}
