// Definitions (administrators): download the broker's definitions as JSON, and import a file in
// RabbitMQ's format (all or nothing: the API lists every problem when it refuses one).
import { ApiError, get, post } from '../api';
import { h, note } from '../dom';
import type { Page } from '../page';

export function definitionsPage(): Page {
  const msg = h('div', { class: 'note', 'data-result': 'definitions' });
  const exportButton = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      'data-action': 'export',
      onclick: async () => {
        try {
          const defs = await get<unknown>('/api/definitions');
          const url = URL.createObjectURL(new Blob([JSON.stringify(defs, null, 2)], { type: 'application/json' }));
          const a = h('a', { href: url, download: `warren-definitions-${new Date().toISOString().slice(0, 10)}.json` });
          document.body.appendChild(a);
          a.click();
          a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10_000);
          note(msg, 'Definitions downloaded.');
        } catch (err) {
          note(msg, (err as Error).message, 'error');
        }
      },
    },
    'Download definitions',
  );
  const file = h('input', { type: 'file', name: 'file', accept: 'application/json,.json', required: true });
  const importForm = h(
    'form',
    {
      class: 'form-grid',
      'data-form': 'import',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const f = file.files?.[0];
        if (!f) return;
        let body: unknown;
        try {
          body = JSON.parse(await f.text());
        } catch (err) {
          note(msg, `${f.name} is not JSON: ${(err as Error).message}`, 'error');
          return;
        }
        try {
          await post('/api/definitions', body);
          note(msg, `Imported ${f.name}.`);
        } catch (err) {
          note(msg, err instanceof ApiError ? err.message : String(err), 'error');
        }
      },
    },
    h('label', null, 'Definitions file'),
    file,
    h('span'),
    h('button', { type: 'submit', class: 'primary' }, 'Upload and import'),
  );
  return {
    title: 'Definitions',
    el: h(
      'div',
      { class: 'page definitions' },
      h('h1', null, 'Definitions'),
      h('section', { class: 'panel' }, h('h2', null, 'Export'), h('p', { class: 'muted' }, 'Users, vhosts, permissions, policies, queues, exchanges and bindings, as JSON in RabbitMQ\'s format.'), exportButton),
      h('section', { class: 'panel' }, h('h2', null, 'Import'), h('p', { class: 'muted' }, 'Adds or updates what the file defines; nothing is applied if any of it is refused.'), importForm),
      msg,
    ),
    async refresh() {},
  };
}
