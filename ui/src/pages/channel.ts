// One channel: its settings (prefetch, confirm / tx mode, unacked) and its consumers.
import { get, type ChannelInfo, type ConsumerInfo } from '../api';
import { fmtInt, h, queueHref, replace, Table } from '../dom';
import { props } from '../forms';
import type { Page } from '../page';
import { connectionHref } from './lists';

export function channelPage(name: string): Page {
  const details = h('dl', { class: 'props' });
  const missing = h('p', { class: 'note error', hidden: true }, 'This channel is closed.');
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
    h('section', { class: 'panel' }, h('h2', null, 'Details'), details),
    h('section', { class: 'panel' }, h('h2', null, 'Consumers'), consumers.el),
  );
  const refresh = async (): Promise<void> => {
    const [chs, cs] = await Promise.all([get<ChannelInfo[]>('/api/channels'), get<ConsumerInfo[]>('/api/consumers')]);
    const c = chs.find((x) => x.name === name);
    missing.hidden = !!c;
    consumers.update(cs.filter((x) => x.channel_details.name === name));
    if (!c) return;
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
      ]),
    );
  };
  return { title: `Channel ${name}`, el, refresh };
}
