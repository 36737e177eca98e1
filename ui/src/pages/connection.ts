// One connection: its data rates (bytes from and to the client, with a chart), the message rates of
// its channels summed (RabbitMQ keeps none per connection), its properties, the client's
// properties, its channels with their rates, and closing it with a reason (DELETE
// /api/connections/{name} with X-Reason, which the client sees in connection.close) for an
// administrator or the connection's own user.
import { canClose, del, enc, get, type ChannelInfo, type ConnectionInfo, type MessageStats } from '../api';
import { History, LiveChart } from '../chart';
import { fmtBytes, fmtInt, fmtRate, h, replace, Table } from '../dom';
import { form, props } from '../forms';
import type { Page } from '../page';
import { channelHref } from './lists';
import { stat } from './overview';

type RateKey = 'publish_details' | 'confirm_details' | 'deliver_get_details' | 'ack_details' | 'redeliver_details';
const rateOf = (s: MessageStats | undefined, k: RateKey): number => s?.[k]?.rate ?? 0;
const sum = (chs: ChannelInfo[], k: RateKey): number => chs.reduce((n, c) => n + rateOf(c.message_stats, k), 0);
const bytesRate = (n: number | undefined): string => `${fmtBytes(n ?? 0)}/s`;

export function connectionPage(name: string): Page {
  const base = `/api/connections/${enc(name)}`;
  const stats = h('div', { class: 'stats' });
  const details = h('dl', { class: 'props' });
  const client = h('dl', { class: 'props', 'data-client-properties': '' });
  const missing = h('p', { class: 'note error', hidden: true }, 'This connection is closed.');
  const data = new History(2);
  const dataChart = new LiveChart(
    'Data rates',
    [
      { label: 'From client', color: '#d9652b' },
      { label: 'To client', color: '#2b7bd9' },
    ],
    data,
    (v) => bytesRate(v),
    { height: 160 },
  );
  const msgs = new History(3);
  const msgChart = new LiveChart(
    'Message rates (its channels)',
    [
      { label: 'Publish', color: '#d9652b' },
      { label: 'Deliver / get', color: '#2b7bd9' },
      { label: 'Ack', color: '#2ba35a' },
    ],
    msgs,
    (v) => `${+v.toFixed(1)}/s`,
    { height: 160 },
  );
  const channels = new Table<ChannelInfo>(
    'connection-channels',
    [
      { label: 'Channel', value: (c) => c.number, render: (c) => h('a', { href: channelHref(c.name) }, String(c.number)), num: true },
      { label: 'Mode', value: (c) => [c.confirm && 'confirm', c.transactional && 'tx'].filter(Boolean).join(' ') },
      { label: 'Prefetch', value: (c) => c.prefetch_count, num: true },
      { label: 'Consumers', value: (c) => c.consumer_count, num: true },
      { label: 'Unacked', value: (c) => c.messages_unacknowledged, render: (c) => fmtInt(c.messages_unacknowledged), num: true },
      { label: 'Publish', value: (c) => rateOf(c.message_stats, 'publish_details'), render: (c) => fmtRate(rateOf(c.message_stats, 'publish_details')), num: true },
      { label: 'Confirm', value: (c) => rateOf(c.message_stats, 'confirm_details'), render: (c) => fmtRate(rateOf(c.message_stats, 'confirm_details')), num: true },
      { label: 'Deliver / get', value: (c) => rateOf(c.message_stats, 'deliver_get_details'), render: (c) => fmtRate(rateOf(c.message_stats, 'deliver_get_details')), num: true },
      { label: 'Ack', value: (c) => rateOf(c.message_stats, 'ack_details'), render: (c) => fmtRate(rateOf(c.message_stats, 'ack_details')), num: true },
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
  const closePanel = h('section', { class: 'panel', hidden: true }, h('h2', null, 'Close this connection'), close, msg);

  const el = h(
    'div',
    { class: 'page connection' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/connections' }, 'Connections')),
    h('h1', null, 'Connection ', h('span', { class: 'connection-name' }, name)),
    missing,
    stats,
    h('div', { class: 'columns' }, h('div', null, dataChart.el), h('div', null, msgChart.el)),
    h('div', { class: 'columns' }, h('section', { class: 'panel' }, h('h2', null, 'Details'), details), h('section', { class: 'panel' }, h('h2', null, 'Client properties'), client)),
    h('section', { class: 'panel' }, h('h2', null, 'Channels'), channels.el),
    closePanel,
  );
  const refresh = async (): Promise<void> => {
    let c: ConnectionInfo;
    let chs: ChannelInfo[];
    try {
      [c, chs] = await Promise.all([get<ConnectionInfo>(base), get<ChannelInfo[]>(`${base}/channels`)]);
    } catch (err) {
      if ((err as { status?: number }).status === 404) {
        missing.hidden = false;
        closePanel.hidden = true;
        channels.update([]);
        return;
      }
      throw err;
    }
    missing.hidden = true;
    // An administrator may close any connection, anyone else their own.
    closePanel.hidden = !canClose(c.user);
    data.push([c.recv_oct_details?.rate ?? 0, c.send_oct_details?.rate ?? 0]);
    dataChart.update(data);
    msgs.push([sum(chs, 'publish_details'), sum(chs, 'deliver_get_details'), sum(chs, 'ack_details')]);
    msgChart.update(msgs);
    replace(
      stats,
      stat('From client', bytesRate(c.recv_oct_details?.rate), 'recv-rate'),
      stat('To client', bytesRate(c.send_oct_details?.rate), 'send-rate'),
      stat('Publish', fmtRate(sum(chs, 'publish_details')), 'publish-rate'),
      stat('Confirm', fmtRate(sum(chs, 'confirm_details')), 'confirm-rate'),
      stat('Deliver / get', fmtRate(sum(chs, 'deliver_get_details')), 'deliver-rate'),
      stat('Ack', fmtRate(sum(chs, 'ack_details')), 'ack-rate'),
      stat('Redelivered', fmtRate(sum(chs, 'redeliver_details')), 'redeliver-rate'),
    );
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
        ['Received', fmtBytes(c.recv_oct ?? 0)],
        ['Sent', fmtBytes(c.send_oct ?? 0)],
        ['Connected', new Date(c.connected_at).toLocaleString()],
      ]),
    );
    replace(client, ...props(Object.entries(c.client_properties)));
    channels.update(chs);
  };
  return {
    title: `Connection ${name}`,
    el,
    refresh,
    dispose: () => {
      dataChart.dispose();
      msgChart.dispose();
    },
  };
}
