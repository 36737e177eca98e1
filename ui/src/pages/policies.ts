// Policies and operator policies: both lists, a form that adds or updates one (PUT, so the same
// name replaces it), and a delete button per row. The API checks everything and its reason is shown.
import { canAdmin, canPolicy, del, enc, get, put, type PolicyInfo, type VhostInfo } from '../api';
import { h, note, replace, Table, type Column } from '../dom';
import type { Page } from '../page';

const APPLY_TO = ['all', 'queues', 'exchanges', 'classic_queues', 'quorum_queues', 'streams'];

export function policiesPage(): Page {
  const msg = h('div', { class: 'note' });
  const tables = (['policies', 'operator-policies'] as const).map((kind) => {
    const path = `/api/${kind}`;
    return {
      path,
      table: new Table<PolicyInfo>(
        kind,
        (
          [
          { label: 'Virtual host', value: (p) => p.vhost },
          { label: 'Name', value: (p) => p.name },
          { label: 'Pattern', value: (p) => p.pattern, render: (p) => h('code', null, p.pattern) },
          { label: 'Apply to', value: (p) => p['apply-to'] },
          { label: 'Definition', value: (p) => JSON.stringify(p.definition), render: (p) => h('code', null, JSON.stringify(p.definition)) },
          { label: 'Priority', value: (p) => p.priority, num: true },
          {
            label: '',
            value: () => '',
            // Policies: administrators, and policymakers in vhosts they have permissions in;
            // operator policies: administrators.
            render: (p) =>
              (kind === 'policies' ? canPolicy(p.vhost) : canAdmin()) &&
              h(
                'button',
                {
                  type: 'button',
                  class: 'danger',
                  'data-delete': p.name,
                  'data-vhost': p.vhost,
                  onclick: async () => {
                    if (!confirm(`Delete ${kind === 'policies' ? 'policy' : 'operator policy'} ${p.name}?`)) return;
                    try {
                      await del(`${path}/${enc(p.vhost)}/${enc(p.name)}`);
                      note(msg, `Deleted ${p.name}.`);
                      await refresh();
                    } catch (err) {
                      note(msg, (err as Error).message, 'error');
                    }
                  },
                },
                'Delete',
              ),
          },
          ] as Column<PolicyInfo>[]
        ).filter((c) => c.label !== '' || canPolicy()),
        { filter: (p) => `${p.vhost} ${p.name} ${p.pattern}`, empty: kind === 'policies' ? 'No policies.' : 'No operator policies.' },
      ),
    };
  });

  const vhostSelect = h('select', { name: 'vhost' });
  const kind = h('select', { name: 'kind' }, h('option', { value: 'policies' }, 'policy'), canAdmin() && h('option', { value: 'operator-policies' }, 'operator policy'));
  const name = h('input', { name: 'name', required: true, placeholder: 'policy name' });
  const pattern = h('input', { name: 'pattern', required: true, placeholder: '^orders\\.' });
  const applyTo = h('select', { name: 'apply-to' }, ...APPLY_TO.map((a) => h('option', { value: a }, a)));
  const priority = h('input', { name: 'priority', type: 'number', value: 0 });
  const definition = h('textarea', { name: 'definition', rows: 3, placeholder: '{"message-ttl": 60000, "dead-letter-exchange": "dlx"}' });
  const add = h(
    'details',
    { class: 'panel' },
    h('summary', null, 'Add or update a policy'),
    h(
      'form',
      {
        class: 'form-grid',
        'data-form': 'policy',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          let def: unknown;
          try {
            def = JSON.parse(definition.value);
          } catch (err) {
            note(msg, `The definition is not JSON: ${(err as Error).message}`, 'error');
            return;
          }
          try {
            await put(`/api/${kind.value}/${enc(vhostSelect.value)}/${enc(name.value)}`, {
              pattern: pattern.value,
              'apply-to': applyTo.value,
              priority: Number(priority.value || 0),
              definition: def,
            });
            note(msg, `Policy ${name.value} set.`);
            await refresh();
          } catch (err) {
            note(msg, (err as Error).message, 'error');
          }
        },
      },
      h('label', null, 'Kind'),
      kind,
      h('label', null, 'Virtual host'),
      vhostSelect,
      h('label', null, 'Name'),
      name,
      h('label', null, 'Pattern'),
      pattern,
      h('label', null, 'Apply to'),
      applyTo,
      h('label', null, 'Priority'),
      priority,
      h('label', null, 'Definition (JSON)'),
      definition,
      h('span'),
      h('button', { type: 'submit', class: 'primary' }, 'Set policy'),
    ),
  );

  const refresh = async (): Promise<void> => {
    const [vhosts, ...lists] = await Promise.all([get<VhostInfo[]>('/api/vhosts'), ...tables.map((t) => get<PolicyInfo[]>(t.path))]);
    tables.forEach((t, i) => t.table.update(lists[i]!));
    const names = vhosts.map((v) => v.name).filter((v) => canPolicy(v));
    if ([...vhostSelect.options].map((o) => o.value).join('\0') !== names.join('\0')) {
      const cur = vhostSelect.value || '/';
      replace(vhostSelect, ...names.map((n) => h('option', { value: n, selected: n === cur }, n)));
    }
  };
  return {
    title: 'Policies',
    el: h('div', { class: 'page policies' }, h('h1', null, 'Policies'), tables[0]!.table.el, h('h2', null, 'Operator policies'), tables[1]!.table.el, canPolicy() && add, msg),
    refresh,
  };
}
