// The login form: POST api/login, whose answer is the same Me as GET api/me (with the CSRF token).
import type { LoginRequest, Me } from '../../api/contract.js';
import { ApiFailure, postQuiet } from '../api.js';
import { el } from '../dom.js';

export function loginView(host: HTMLElement, signedIn: (me: Me) => void): void {
  const user = el('input', { name: 'user', autocomplete: 'username', required: true, testid: 'login-user' });
  const password = el('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, testid: 'login-password' });
  const problem = el('p', { class: 'login-problem', testid: 'login-problem', role: 'alert' });
  const submit = el('button', { type: 'submit', class: 'btn primary', testid: 'login-submit' }, 'Sign in');
  const form = el('form', { class: 'login-card', testid: 'login-form' },
    el('div', { class: 'login-brand' }, el('img', { src: 'icon.svg', alt: '', width: 36, height: 36 }), el('h1', {}, 'KisFlow console')),
    el('label', {}, 'User', user),
    el('label', {}, 'Password', password),
    problem,
    submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit.disabled = true;
    problem.textContent = '';
    const body: LoginRequest = { user: user.value, password: password.value };
    postQuiet<Me>('login', body)
      .then(signedIn)
      .catch((err: unknown) => {
        problem.textContent = err instanceof ApiFailure ? err.message : String(err);
      })
      .finally(() => { submit.disabled = false; });
  });
  host.appendChild(el('div', { class: 'login-page' }, form));
  user.focus();
}
