// The list pages: connections and channels (server-paged, linking to their pages, with their
// rates); virtual hosts, with a form that adds one (administrators) with its default queue type,
// and a delete button per row.
import { canAdmin, del, enc, get, put, type ChannelInfo, type ConnectionInfo, type Rate, type VhostInfo } from '../api';
import { fmtBytes, fmtInt, fmtRate, h, note, Table, type Column } from '../dom';
import { fetchPage } from '../paged';
import { actionButton } from '../forms';
import type { Page } from '../page';

export const connectionHref = (name: string): string => `#/connections/${enc(name)}`;
export const channelHref = (name: string): string => `#/channels/${enc(name)}`;

export const clientName = (c: ConnectionInfo): string => {
  const p = c.client_properties;
  const product = typeof p.product === 'string' ? p.product : '';
  const name = typeof p.connection_name === 'string' ? p.connection_name : '';
  return [name, product].filter(Boolean).join(' · ');
};

/** A list the broker pages, filters (by name) and sorts (RabbitMQ's list query). */
function pagedListPage<T>(title: string, id: string, path: string, columns: Column<T>[], filter: (row: T) => string): Page {
  const msg = h('div', { class: 'note' });
  const refresh = async (): Promise<void> => {
    await fetchPage(table, path);
  };
  const table = new Table<T>(id, columns, { filter, empty: `No ${title.toLowerCase()}.`, remote: () => void refresh().catch((e: Error) => note(msg, e.message, 'error')) });
  return { title, el: h('div', { class: `page ${id}` }, h('h1', null, title), table.el, msg), refresh };
}

const rate = (r: Rate | undefined): number => r?.rate ?? 0;
/** A sortable rate column (the API's dotted field). */
function rateColumn<T>(label: string, key: string, pick: (row: T) => Rate | undefined, render: (n: number) => string = fmtRate): Column<T> {
  return { label, key, value: (row) => rate(pick(row)), render: (row) => render(rate(pick(row))), num: true };
}
const bytesRate = (n: number): string => `${fmtBytes(n)}/s`;

export const connectionsPage = (): Page =>
  pagedListPage<ConnectionInfo>(
    'Connections',
    'connections',
    '/api/connections',
    [
      { label: 'Name', key: 'name', value: (c) => c.name, render: (c) => h('a', { href: connectionHref(c.name), class: 'connection-link' }, c.name) },
      { label: 'Client', value: clientName },
      { label: 'User', key: 'user', value: (c) => c.user },
      { label: 'Virtual host', key: 'vhost', value: (c) => c.vhost },
      { label: 'State', key: 'state', value: (c) => c.state },
      { label: 'Protocol', key: 'protocol', value: (c) => c.protocol },
      { label: 'Channels', key: 'channels', value: (c) => c.channels, num: true },
      rateColumn<ConnectionInfo>('From client', 'recv_oct_details.rate', (c) => c.recv_oct_details, bytesRate),
      rateColumn<ConnectionInfo>('To client', 'send_oct_details.rate', (c) => c.send_oct_details, bytesRate),
      { label: 'Heartbeat', key: 'timeout', value: (c) => c.timeout, render: (c) => `${c.timeout} s`, num: true },
      { label: 'Connected', key: 'connected_at', value: (c) => c.connected_at, render: (c) => new Date(c.connected_at).toLocaleString() },
    ],
    (c) => c.name,
  );

export const channelsPage = (): Page =>
  pagedListPage<ChannelInfo>(
    'Channels',
    'channels',
    '/api/channels',
    [
      { label: 'Channel', key: 'name', value: (c) => c.name, render: (c) => h('a', { href: channelHref(c.name), class: 'channel-link' }, c.name) },
      { label: 'User', key: 'user', value: (c) => c.user },
      { label: 'Virtual host', key: 'vhost', value: (c) => c.vhost },
      { label: 'Mode', value: (c) => [c.confirm && 'confirm', c.transactional && 'tx'].filter(Boolean).join(' ') },
      { label: 'Prefetch', key: 'prefetch_count', value: (c) => c.prefetch_count, num: true },
      { label: 'Consumers', key: 'consumer_count', value: (c) => c.consumer_count, num: true },
      { label: 'Unacked', key: 'messages_unacknowledged', value: (c) => c.messages_unacknowledged, render: (c) => fmtInt(c.messages_unacknowledged), num: true },
      rateColumn<ChannelInfo>('Publish', 'message_stats.publish_details.rate', (c) => c.message_stats?.publish_details),
      rateColumn<ChannelInfo>('Confirm', 'message_stats.confirm_details.rate', (c) => c.message_stats?.confirm_details),
      rateColumn<ChannelInfo>('Deliver / get', 'message_stats.deliver_get_details.rate', (c) => c.message_stats?.deliver_get_details),
      rateColumn<ChannelInfo>('Ack', 'message_stats.ack_details.rate', (c) => c.message_stats?.ack_details),
    ],
    (c) => c.name,
  );

/** Queue types a vhost may default to (those the broker registers; the API refuses others). */
const QUEUE_TYPES = ['classic', 'quorum', 'stream'];

/**
 * A vhost's default queue type as its list shows it: the API says "undefined" when none is set
 * (as RabbitMQ 3.12), and queues declared there without x-queue-type are then classic.
 */
const defaultType = (v: VhostInfo): string => (v.default_queue_type && v.default_queue_type !== 'undefined' ? v.default_queue_type : '');

export function vhostsPage(): Page {
  const msg = h('div', { class: 'note' });
  const table = new Table<VhostInfo>(
    'vhosts',
    [
      { label: 'Name', value: (v) => v.name },
      { label: 'Description', value: (v) => v.description },
      {
        label: 'Default queue type',
        value: defaultType,
        render: (v) => defaultType(v) || h('span', { class: 'muted', title: 'not set: queues declared without x-queue-type are classic' }, 'classic (not set)'),
      },
      {
        label: 'Tracing',
        value: (v) => (v.tracing ? 'on' : 'off'),
        // Administrators turn it on and off here, as `warren ctl trace_on` does (a PUT of "tracing").
        render: (v) =>
          canAdmin()
            ? h(
                'span',
                null,
                v.tracing ? 'on ' : 'off ',
                h(
                  'button',
                  {
                    type: 'button',
                    'data-tracing': v.name,
                    onclick: async () => {
                      try {
                        await put(`/api/vhosts/${enc(v.name)}`, { tracing: !v.tracing });
                        note(msg, `Tracing ${v.tracing ? 'stopped' : 'started'} for virtual host ${v.name}.`);
                        await refresh();
                      } catch (err) {
                        note(msg, (err as Error).message, 'error');
                      }
                    },
                  },
                  v.tracing ? 'Stop' : 'Start',
                ),
              )
            : v.tracing
              ? 'on'
              : 'off',
      },
      { label: 'Ready', value: (v) => v.messages_ready, render: (v) => fmtInt(v.messages_ready), num: true },
      { label: 'Unacked', value: (v) => v.messages_unacknowledged, render: (v) => fmtInt(v.messages_unacknowledged), num: true },
      { label: 'Total', value: (v) => v.messages, render: (v) => fmtInt(v.messages), num: true },
      ...(canAdmin()
        ? [{ label: '', value: () => '', render: (v: VhostInfo) => actionButton('Delete', { 'data-delete-vhost': v.name }, `Delete virtual host ${v.name} and everything in it?`, msg, async () => {
            await del(`/api/vhosts/${enc(v.name)}`);
            await refresh();
            return `Virtual host ${v.name} deleted.`;
          }) }]
        : []),
    ],
    { filter: (v) => `${v.name} ${v.description} ${defaultType(v)}`, empty: 'No virtual hosts.' },
  );
  const name = h('input', { name: 'name', required: true, placeholder: 'vhost name' });
  const description = h('input', { name: 'description', placeholder: 'optional' });
  const queueType = h(
    'select',
    { name: 'default_queue_type' },
    h('option', { value: '' }, '(not set: classic)'),
    ...QUEUE_TYPES.map((t) => h('option', { value: t }, t)),
  );
  // Administrators only: for anyone else the API answers 401 "Not administrator user", shown here.
  const add = h(
    'details',
    { class: 'panel' },
    h('summary', null, 'Add a virtual host'),
    h(
      'form',
      {
        class: 'form-grid',
        'data-form': 'vhost',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const body: Record<string, string> = { description: description.value };
          // Left out when not chosen: an existing vhost keeps its default (the API changes only what it is given).
          if (queueType.value) body.default_queue_type = queueType.value;
          try {
            await put(`/api/vhosts/${enc(name.value)}`, body);
            note(msg, `Virtual host ${name.value} set.`);
            await refresh();
          } catch (err) {
            note(msg, (err as Error).message, 'error');
          }
        },
      },
      h('label', null, 'Name'),
      name,
      h('label', null, 'Description'),
      description,
      h('label', null, 'Default queue type'),
      queueType,
      h('span'),
      h('button', { type: 'submit', class: 'primary' }, 'Add virtual host'),
    ),
  );
  const refresh = async (): Promise<void> => {
    table.update(await get<VhostInfo[]>('/api/vhosts'));
  };
  return {
    title: 'Virtual hosts',
    el: h('div', { class: 'page vhosts' }, h('h1', null, 'Virtual hosts'), table.el, canAdmin() && add, msg),
    refresh,
  };
}
