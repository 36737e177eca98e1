// The exchanges list, linking each exchange to its page, and a form that declares one (with
// arguments as typed key / value rows).
import { canWrite, enc, get, put, type ExchangeInfo, type VhostInfo } from '../api';
import { h, Table } from '../dom';
import { argsEditor, form, panel, syncOptions } from '../forms';
import type { Page } from '../page';
import { exchangeHref } from './bindings';

const TYPES = ['direct', 'fanout', 'topic', 'headers'];

export function exchangesPage(): Page {
  const table = new Table<ExchangeInfo>(
    'exchanges',
    [
      { label: 'Virtual host', value: (e) => e.vhost },
      { label: 'Name', value: (e) => e.name || '(AMQP default)', render: (e) => (e.name ? h('a', { href: exchangeHref(e.vhost, e.name), class: 'exchange-link' }, e.name) : '(AMQP default)') },
      { label: 'Type', value: (e) => e.type },
      { label: 'Durable', value: (e) => e.durable },
      { label: 'Auto delete', value: (e) => e.auto_delete },
      { label: 'Internal', value: (e) => e.internal },
      { label: 'Arguments', value: (e) => (Object.keys(e.arguments).length ? JSON.stringify(e.arguments) : '') },
    ],
    { filter: (e) => `${e.vhost} ${e.name} ${e.type}`, empty: 'No exchanges.' },
  );
  const msg = h('div', { class: 'note' });
  const vhost = h('select', { name: 'vhost' });
  const name = h('input', { name: 'name', required: true, placeholder: 'exchange name' });
  const type = h('select', { name: 'type' }, ...TYPES.map((t) => h('option', { value: t }, t)));
  const durable = h('input', { type: 'checkbox', name: 'durable', checked: true });
  const autoDelete = h('input', { type: 'checkbox', name: 'auto_delete' });
  const internal = h('input', { type: 'checkbox', name: 'internal' });
  const args = argsEditor();
  const add = form('exchange', 'Add exchange', msg, async () => {
    await put(`/api/exchanges/${enc(vhost.value)}/${enc(name.value)}`, {
      type: type.value,
      durable: durable.checked,
      auto_delete: autoDelete.checked,
      internal: internal.checked,
      arguments: args.value(),
    });
    const done = `Exchange ${name.value} declared.`;
    name.value = '';
    args.clear();
    await refresh();
    return done;
  }, [
    ['Virtual host', vhost],
    ['Name', name],
    ['Type', type],
    ['Durable', durable],
    ['Auto delete', autoDelete],
    ['Internal', internal],
    ['Arguments', args.el],
  ]);
  const refresh = async (): Promise<void> => {
    const [xs, vhosts] = await Promise.all([get<ExchangeInfo[]>('/api/exchanges'), canWrite() ? get<VhostInfo[]>('/api/vhosts') : Promise.resolve([])]);
    table.update(xs);
    syncOptions(vhost, vhosts.map((v) => v.name), '/');
  };
  return { title: 'Exchanges', el: h('div', { class: 'page exchanges' }, h('h1', null, 'Exchanges'), table.el, canWrite() && panel('Add an exchange', add, msg)), refresh };
}
