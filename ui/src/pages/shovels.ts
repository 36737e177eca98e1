// Dynamic shovels (administrators): each shovel parameter with the state its worker reports
// (/api/shovels; in a cluster only the node running it reports one), restart and delete buttons,
// and a form that adds one (PUT /api/parameters/shovel/<vhost>/<name>; the API checks it and its
// reason is shown).
import { del, enc, get, put, type ParameterInfo, type ShovelInfo, type VhostInfo } from '../api';
import { h, Table } from '../dom';
import { actionButton, form, panel, syncOptions } from '../forms';
import type { Page } from '../page';

interface Row {
  p: ParameterInfo;
  s: ShovelInfo | undefined;
}

/** The source or destination a definition names, as one line. */
function end(v: { [k: string]: unknown }, side: 'src' | 'dest'): string {
  const q = v[`${side}-queue`];
  const x = v[`${side}-exchange`];
  const key = v[`${side}-exchange-key`];
  if (typeof q === 'string') return `queue ${q}`;
  if (typeof x === 'string') return `exchange ${x}${typeof key === 'string' ? ` (${key})` : ''}`;
  return side === 'dest' ? "the message's own exchange and key" : '';
}

/** A URI without its credentials, as the API shows them. */
const bare = (u: unknown): string => (Array.isArray(u) ? u : [u]).map((x) => String(x).replace(/^([a-z]+:\/\/)[^/?@]*@/i, '$1')).join(', ');

export function shovelsPage(): Page {
  const msg = h('div', { class: 'note' });
  const table = new Table<Row>(
    'shovels',
    [
      { label: 'Virtual host', value: (r) => r.p.vhost },
      { label: 'Name', value: (r) => r.p.name },
      { label: 'State', value: (r) => r.s?.state ?? 'not on this node', render: (r) => h('span', { class: `state state-${r.s?.state ?? 'elsewhere'}`, 'data-state': r.s?.state ?? '' }, r.s?.state ?? 'not on this node') },
      { label: 'Source', value: (r) => `${bare(r.p.value['src-uri'])} ${end(r.p.value, 'src')}` },
      { label: 'Destination', value: (r) => `${bare(r.p.value['dest-uri'])} ${end(r.p.value, 'dest')}` },
      { label: 'Since', value: (r) => r.s?.timestamp ?? '' },
      {
        label: '',
        value: () => '',
        render: (r) =>
          h(
            'span',
            { class: 'actions', 'data-shovel': r.p.name },
            r.s &&
              actionButton('Restart', { class: '', 'data-action': 'restart' }, null, msg, async () => {
                await del(`/api/shovels/vhost/${enc(r.p.vhost)}/${enc(r.p.name)}/restart`);
                await refresh();
                return `Restarted ${r.p.name}.`;
              }),
            actionButton('Delete', { 'data-action': 'delete' }, `Delete shovel ${r.p.name}?`, msg, async () => {
              await del(`/api/parameters/shovel/${enc(r.p.vhost)}/${enc(r.p.name)}`);
              await refresh();
              return `Deleted ${r.p.name}.`;
            }),
          ),
      },
    ],
    { filter: (r) => `${r.p.vhost} ${r.p.name} ${JSON.stringify(r.p.value)}`, empty: 'No shovels.' },
  );

  const vhostSelect = h('select', { name: 'vhost' });
  const name = h('input', { name: 'name', required: true, placeholder: 'shovel name' });
  const srcUri = h('input', { name: 'src-uri', required: true, value: 'amqp://', placeholder: 'amqp://user:pass@host:5672/vhost' });
  const srcKind = h('select', { name: 'src-kind' }, h('option', { value: 'queue' }, 'queue'), h('option', { value: 'exchange' }, 'exchange'));
  const srcName = h('input', { name: 'src-name', required: true, placeholder: 'queue or exchange name' });
  const srcKey = h('input', { name: 'src-key', placeholder: 'routing key (an exchange source)' });
  const destUri = h('input', { name: 'dest-uri', required: true, value: 'amqp://', placeholder: 'amqp://user:pass@host:5672/vhost' });
  const destKind = h('select', { name: 'dest-kind' }, h('option', { value: 'queue' }, 'queue'), h('option', { value: 'exchange' }, 'exchange'));
  const destName = h('input', { name: 'dest-name', placeholder: "queue or exchange name (empty: the message's own)" });
  const destKey = h('input', { name: 'dest-key', placeholder: "routing key (empty: the message's own)" });
  const ackMode = h('select', { name: 'ack-mode' }, ...['on-confirm', 'on-publish', 'no-ack'].map((m) => h('option', { value: m }, m)));
  const prefetch = h('input', { name: 'prefetch', type: 'number', value: 1000 });
  const deleteAfter = h('select', { name: 'delete-after' }, h('option', { value: 'never' }, 'never'), h('option', { value: 'queue-length' }, 'once the queue is moved'));
  const forward = h('input', { name: 'forward-headers', type: 'checkbox' });
  const add = panel(
    'Add a shovel',
    form(
      'shovel',
      'Add shovel',
      msg,
      async () => {
        const value: { [k: string]: unknown } = {
          'src-uri': srcUri.value,
          [`src-${srcKind.value}`]: srcName.value,
          'dest-uri': destUri.value,
          'ack-mode': ackMode.value,
          'src-prefetch-count': Number(prefetch.value || 1000),
          'src-delete-after': deleteAfter.value,
          'dest-add-forward-headers': forward.checked,
        };
        if (srcKind.value === 'exchange' && srcKey.value !== '') value['src-exchange-key'] = srcKey.value;
        if (destName.value !== '') value[`dest-${destKind.value}`] = destName.value;
        if (destKind.value === 'exchange' && destKey.value !== '') value['dest-exchange-key'] = destKey.value;
        await put(`/api/parameters/shovel/${enc(vhostSelect.value)}/${enc(name.value)}`, { value });
        await refresh();
        return `Shovel ${name.value} added.`;
      },
      [
        ['Virtual host', vhostSelect],
        ['Name', name],
        ['Source URI', srcUri],
        ['Source', h('span', { class: 'inline' }, srcKind, srcName, srcKey)],
        ['Destination URI', destUri],
        ['Destination', h('span', { class: 'inline' }, destKind, destName, destKey)],
        ['Acknowledge', ackMode],
        ['Prefetch', prefetch],
        ['Delete after', deleteAfter],
        ['Forward headers', forward],
      ],
    ),
  );

  const refresh = async (): Promise<void> => {
    const [vhosts, params, statuses] = await Promise.all([get<VhostInfo[]>('/api/vhosts'), get<ParameterInfo[]>('/api/parameters/shovel'), get<ShovelInfo[]>('/api/shovels')]);
    table.update(params.map((p) => ({ p, s: statuses.find((s) => s.vhost === p.vhost && s.name === p.name) })));
    syncOptions(vhostSelect, vhosts.map((v) => v.name), '/');
  };
  return {
    title: 'Shovels',
    el: h('div', { class: 'page shovels' }, h('h1', null, 'Shovels'), table.el, add, msg),
    refresh,
  };
}
