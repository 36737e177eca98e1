// One connection: its properties, the client's properties, its channels, and closing it with a
// reason (DELETE /api/connections/{name} with X-Reason, which the client sees in connection.close).
import { canWrite, del, enc, get, type ChannelInfo, type ConnectionInfo } from '../api';
import { fmtInt, h, replace, Table } from '../dom';
import { form, props } from '../forms';
import type { Page } from '../page';
import { channelHref } from './lists';

export function connectionPage(name: string): Page {
  const base = `/api/connections/${enc(name)}`;
  const details = h('dl', { class: 'props' });
  const client = h('dl', { class: 'props', 'data-client-properties': '' });
  const missing = h('p', { class: 'note error', hidden: true }, 'This connection is closed.');
  const channels = new Table<ChannelInfo>(
    'connection-channels',
    [
      { label: 'Channel', value: (c) => c.number, render: (c) => h('a', { href: channelHref(c.name) }, String(c.number)), num: true },
      { label: 'Mode', value: (c) => [c.confirm && 'confirm', c.transactional && 'tx'].filter(Boolean).join(' ') },
      { label: 'Prefetch', value: (c) => c.prefetch_count, num: true },
      { label: 'Consumers', value: (c) => c.consumer_count, num: true },
      { label: 'Unacked', value: (c) => c.messages_unacknowledged, render: (c) => fmtInt(c.messages_unacknowledged), num: true },
    ],
    { empty: 'No channels.' },
  );
  const msg = h('div', { class: 'note', 'data-result': 'close' });
  const reason = h('input', { name: 'reason', value: 'Closed via management plugin', size: 40 });
  const close = form('close', 'Force close', msg, async () => {
    if (!confirm(`Close connection ${name}?`)) return '';
    await del(base, { 'x-reason': reason.value });
    return 'Connection closed.';
  }, [['Reason', reason]]);

  const el = h(
    'div',
    { class: 'page connection' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/connections' }, 'Connections')),
    h('h1', null, 'Connection ', h('span', { class: 'connection-name' }, name)),
    missing,
    h('div', { class: 'columns' }, h('section', { class: 'panel' }, h('h2', null, 'Details'), details), h('section', { class: 'panel' }, h('h2', null, 'Client properties'), client)),
    h('section', { class: 'panel' }, h('h2', null, 'Channels'), channels.el),
    canWrite() && h('section', { class: 'panel' }, h('h2', null, 'Close this connection'), close, msg),
  );
  const refresh = async (): Promise<void> => {
    let c: ConnectionInfo;
    try {
      c = await get<ConnectionInfo>(base);
    } catch (err) {
      if ((err as { status?: number }).status === 404) {
        missing.hidden = false;
        channels.update([]);
        return;
      }
      throw err;
    }
    missing.hidden = true;
    replace(
      details,
      ...props([
        ['User', c.user],
        ['Virtual host', c.vhost],
        ['State', c.state],
        ['Protocol', c.protocol],
        ['Client address', `${c.peer_host}:${c.peer_port}`],
        ['Broker address', `${c.host}:${c.port}`],
        ['Heartbeat', `${c.timeout} s`],
        ['Frame max', c.frame_max],
        ['Channel max', c.channel_max],
        ['Connected', new Date(c.connected_at).toLocaleString()],
      ]),
    );
    replace(client, ...props(Object.entries(c.client_properties)));
    const all = await get<ChannelInfo[]>('/api/channels');
    channels.update(all.filter((ch) => ch.connection_details?.name === name));
  };
  return { title: `Connection ${name}`, el, refresh };
}
