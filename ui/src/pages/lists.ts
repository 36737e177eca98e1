// The plain list pages: connections and channels (linking to their pages); virtual hosts, with a
// form that adds one (administrators) with its default queue type, and a delete button per row.
import { canAdmin, del, enc, get, put, type ChannelInfo, type ConnectionInfo, type VhostInfo } from '../api';
import { fmtInt, h, note, Table, type Column } from '../dom';
import { actionButton } from '../forms';
import type { Page } from '../page';

function listPage<T>(title: string, id: string, path: string, columns: Column<T>[], filter?: (row: T) => string): Page {
  const table = new Table<T>(id, columns, { filter, empty: `No ${title.toLowerCase()}.` });
  return {
    title,
    el: h('div', { class: `page ${id}` }, h('h1', null, title), table.el),
    async refresh() {
      table.update(await get<T[]>(path));
    },
  };
}

export const connectionHref = (name: string): string => `#/connections/${enc(name)}`;
export const channelHref = (name: string): string => `#/channels/${enc(name)}`;

export const clientName = (c: ConnectionInfo): string => {
  const p = c.client_properties;
  const product = typeof p.product === 'string' ? p.product : '';
  const name = typeof p.connection_name === 'string' ? p.connection_name : '';
  return [name, product].filter(Boolean).join(' · ');
};

export const connectionsPage = (): Page =>
  listPage<ConnectionInfo>(
    'Connections',
    'connections',
    '/api/connections',
    [
      { label: 'Name', value: (c) => c.name, render: (c) => h('a', { href: connectionHref(c.name), class: 'connection-link' }, c.name) },
      { label: 'Client', value: clientName },
      { label: 'User', value: (c) => c.user },
      { label: 'Virtual host', value: (c) => c.vhost },
      { label: 'State', value: (c) => c.state },
      { label: 'Protocol', value: (c) => c.protocol },
      { label: 'Channels', value: (c) => c.channels, num: true },
      { label: 'Heartbeat', value: (c) => c.timeout, render: (c) => `${c.timeout} s`, num: true },
      { label: 'Connected', value: (c) => c.connected_at, render: (c) => new Date(c.connected_at).toLocaleString() },
    ],
    (c) => `${c.name} ${c.user} ${c.vhost} ${clientName(c)}`,
  );

export const channelsPage = (): Page =>
  listPage<ChannelInfo>(
    'Channels',
    'channels',
    '/api/channels',
    [
      { label: 'Channel', value: (c) => c.name, render: (c) => h('a', { href: channelHref(c.name), class: 'channel-link' }, c.name) },
      { label: 'User', value: (c) => c.user },
      { label: 'Virtual host', value: (c) => c.vhost },
      { label: 'Mode', value: (c) => [c.confirm && 'confirm', c.transactional && 'tx'].filter(Boolean).join(' ') },
      { label: 'Prefetch', value: (c) => c.prefetch_count, num: true },
      { label: 'Consumers', value: (c) => c.consumer_count, num: true },
      { label: 'Unacked', value: (c) => c.messages_unacknowledged, render: (c) => fmtInt(c.messages_unacknowledged), num: true },
    ],
    (c) => `${c.name} ${c.user} ${c.vhost}`,
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
