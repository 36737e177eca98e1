// The exchanges list, linking each exchange to its page, and a form that declares one (with
// arguments as typed key / value rows).
import { enc, put, vhostsAllowing, type ExchangeInfo } from '../api';
import { fmtRate, h, note, Table } from '../dom';
import { fetchPage } from '../paged';
import { argsEditor, form, panel, syncOptions } from '../forms';
import type { Page } from '../page';
import { exchangeHref } from './bindings';

// As RabbitMQ's UI offers them: the overview's exchange types but for those of internal purpose (federation's).
const TYPES = ['direct', 'fanout', 'topic', 'headers', 'x-consistent-hash', 'x-delayed-message', 'x-random', 'x-recent-history'];

export function exchangesPage(): Page {
  const table = new Table<ExchangeInfo>(
    'exchanges',
    [
      { label: 'Virtual host', key: 'vhost', value: (e) => e.vhost },
      { label: 'Name', key: 'name', value: (e) => e.name || '(AMQP default)', render: (e) => (e.name ? h('a', { href: exchangeHref(e.vhost, e.name), class: 'exchange-link' }, e.name) : '(AMQP default)') },
      { label: 'Type', key: 'type', value: (e) => e.type },
      { label: 'Durable', key: 'durable', value: (e) => e.durable },
      { label: 'Auto delete', key: 'auto_delete', value: (e) => e.auto_delete },
      { label: 'Internal', key: 'internal', value: (e) => e.internal },
      { label: 'Arguments', value: (e) => (Object.keys(e.arguments).length ? JSON.stringify(e.arguments) : '') },
      { label: 'Policy', key: 'policy', value: (e) => e.policy ?? '' },
      { label: 'Rate in', key: 'message_stats.publish_in_details.rate', value: (e) => e.message_stats?.publish_in_details?.rate ?? 0, render: (e) => fmtRate(e.message_stats?.publish_in_details?.rate), num: true },
      { label: 'Rate out', key: 'message_stats.publish_out_details.rate', value: (e) => e.message_stats?.publish_out_details?.rate ?? 0, render: (e) => fmtRate(e.message_stats?.publish_out_details?.rate), num: true },
    ],
    // The broker pages, filters (by name) and sorts, as for queues.
    { filter: (e) => e.name, empty: 'No exchanges.', remote: () => void refresh().catch((e: Error) => note(msg, e.message, 'error')) },
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
    await fetchPage(table, '/api/exchanges');
    // Offered: the vhosts where the user may configure (declare) something.
    syncOptions(vhost, vhostsAllowing('configure'), '/');
  };
  return {
    title: 'Exchanges',
    el: h('div', { class: 'page exchanges' }, h('h1', null, 'Exchanges'), table.el, vhostsAllowing('configure').length > 0 ? panel('Add an exchange', add, msg) : msg),
    refresh,
  };
}
