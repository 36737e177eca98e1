// One channel: its message rates (with a chart), its settings (prefetch, confirm / tx mode,
// unacked, unconfirmed) and its consumers, from the channel's own answer (/api/channels/{name}).
import { enc, get, type ChannelInfo, type MessageStats } from '../api';
import { History, LiveChart } from '../chart';
import { fmtInt, fmtRate, h, queueHref, replace, Table } from '../dom';
import type { ConsumerInfo } from '../api';
import { props } from '../forms';
import type { Page } from '../page';
import { connectionHref } from './lists';
import { stat } from './overview';

type RateKey = 'publish_details' | 'confirm_details' | 'deliver_get_details' | 'ack_details' | 'redeliver_details';
const rateOf = (s: MessageStats | undefined, k: RateKey): number => s?.[k]?.rate ?? 0;

export function channelPage(name: string): Page {
  const stats = h('div', { class: 'stats' });
  const details = h('dl', { class: 'props' });
  const missing = h('p', { class: 'note error', hidden: true }, 'This channel is closed.');
  const rates = new History(4);
  const chart = new LiveChart(
    'Message rates',
    [
      { label: 'Publish', color: '#d9652b' },
      { label: 'Confirm', color: '#c9a227' },
      { label: 'Deliver / get', color: '#2b7bd9' },
      { label: 'Ack', color: '#2ba35a' },
    ],
    rates,
    (v) => `${+v.toFixed(1)}/s`,
    { height: 160 },
  );
  const consumers = new Table<ConsumerInfo>(
    'channel-consumers',
    [
      { label: 'Consumer tag', value: (c) => c.consumer_tag },
      { label: 'Queue', value: (c) => c.queue.name, render: (c) => h('a', { href: queueHref(c.queue.vhost, c.queue.name) }, c.queue.name) },
      { label: 'Ack required', value: (c) => c.ack_required },
      { label: 'Exclusive', value: (c) => c.exclusive },
      { label: 'Prefetch', value: (c) => c.prefetch_count, num: true },
    ],
    { empty: 'No consumers.' },
  );
  const el = h(
    'div',
    { class: 'page channel' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/channels' }, 'Channels')),
    h('h1', null, 'Channel ', h('span', { class: 'channel-name' }, name)),
    missing,
    stats,
    chart.el,
    h('section', { class: 'panel' }, h('h2', null, 'Details'), details),
    h('section', { class: 'panel' }, h('h2', null, 'Consumers'), consumers.el),
  );
  const refresh = async (): Promise<void> => {
    let c: ChannelInfo;
    try {
      c = await get<ChannelInfo>(`/api/channels/${enc(name)}`);
    } catch (err) {
      if ((err as { status?: number }).status === 404) {
        missing.hidden = false;
        consumers.update([]);
        return;
      }
      throw err;
    }
    missing.hidden = true;
    consumers.update(c.consumer_details ?? []);
    const s = c.message_stats;
    rates.push([rateOf(s, 'publish_details'), rateOf(s, 'confirm_details'), rateOf(s, 'deliver_get_details'), rateOf(s, 'ack_details')]);
    chart.update(rates);
    replace(
      stats,
      stat('Publish', fmtRate(rateOf(s, 'publish_details')), 'publish-rate'),
      stat('Confirm', fmtRate(rateOf(s, 'confirm_details')), 'confirm-rate'),
      stat('Deliver / get', fmtRate(rateOf(s, 'deliver_get_details')), 'deliver-rate'),
      stat('Ack', fmtRate(rateOf(s, 'ack_details')), 'ack-rate'),
      stat('Redelivered', fmtRate(rateOf(s, 'redeliver_details')), 'redeliver-rate'),
      stat('Unacked', fmtInt(c.messages_unacknowledged), 'unacked'),
    );
    replace(
      details,
      ...props([
        ['Connection', h('a', { href: connectionHref(c.connection_details.name) }, c.connection_details.name)],
        ['Number', c.number],
        ['User', c.user],
        ['Virtual host', c.vhost],
        ['Mode', [c.confirm && 'confirm', c.transactional && 'transactional'].filter(Boolean).join(', ') || 'plain'],
        ['Prefetch', c.prefetch_count],
        ['Global prefetch', c.global_prefetch_count ?? 0],
        ['Consumers', c.consumer_count],
        ['Unacked', fmtInt(c.messages_unacknowledged)],
        ['Unconfirmed', fmtInt(c.messages_unconfirmed ?? 0)],
        ['Published', fmtInt(s?.publish ?? 0)],
        ['Delivered / got', fmtInt(s?.deliver_get ?? 0)],
        ['Acked', fmtInt(s?.ack ?? 0)],
      ]),
    );
  };
  return { title: `Channel ${name}`, el, refresh, dispose: () => chart.dispose() };
}
