import { login } from '../api';
import { h, note } from '../dom';

export function loginPage(done: () => void, message?: string): HTMLElement {
  const user = h('input', { name: 'username', id: 'username', autocomplete: 'username', required: true, autofocus: true });
  const pass = h('input', { name: 'password', id: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('div', { class: 'note', role: 'status' });
  if (message) note(msg, message, 'error');
  const button = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h(
    'form',
    {
      class: 'login-form',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        button.disabled = true;
        note(msg, 'Checking…');
        try {
          await login(user.value, pass.value);
          done();
        } catch (err) {
          note(msg, err instanceof Error ? err.message : String(err), 'error');
          button.disabled = false;
        }
      },
    },
    h('div', { class: 'brand big' }, h('span', { class: 'logo' }, 'W'), 'Warren'),
    h('p', { class: 'muted' }, 'Management console'),
    h('label', { for: 'username' }, 'Username'),
    user,
    h('label', { for: 'password' }, 'Password'),
    pass,
    button,
    msg,
  );
  return h('div', { class: 'login' }, form);
}
