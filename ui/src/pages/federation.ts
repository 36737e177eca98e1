// Federation (administrators): the links with their status (/api/federation-links) and a restart
// button each, the upstreams (federation-upstream parameters) with a delete button each, and a
// form that adds an upstream. Which exchanges and queues are federated is a policy's business
// (Policies page: "federation-upstream-set": "all").
import { del, enc, get, put, type ParameterInfo, type VhostInfo } from '../api';
import { h, Table } from '../dom';
import { actionButton, form, panel, syncOptions } from '../forms';
import type { Page } from '../page';

interface LinkInfo {
  node: string;
  vhost: string;
  exchange?: string;
  queue?: string;
  upstream: string;
  type: string;
  id: string;
  status: string;
  error?: string;
  uri?: string;
  timestamp: string;
}

/** A URI without its credentials, as the API shows them. */
const bare = (u: unknown): string => (Array.isArray(u) ? u : [u]).map((x) => String(x).replace(/^([a-z]+:\/\/)[^/?@]*@/i, '$1')).join(', ');

export function federationPage(): Page {
  const msg = h('div', { class: 'note' });
  const links = new Table<LinkInfo>(
    'federation-links',
    [
      { label: 'Virtual host', value: (l) => l.vhost },
      { label: 'Exchange', value: (l) => l.exchange ?? `queue ${l.queue ?? ''}` },
      { label: 'Upstream', value: (l) => l.upstream },
      { label: 'URI', value: (l) => l.uri ?? '' },
      { label: 'Status', value: (l) => l.status, render: (l) => h('span', { class: `state state-${l.status}`, 'data-link-state': l.status, title: l.error ?? '' }, l.status) },
      { label: 'Error', value: (l) => l.error ?? '' },
      { label: 'Since', value: (l) => l.timestamp },
      {
        label: '',
        value: () => '',
        render: (l) =>
          actionButton('Restart', { class: '', 'data-restart-link': l.id }, null, msg, async () => {
            await del(`/api/federation-links/vhost/${enc(l.vhost)}/${enc(l.id)}/${enc(l.node)}/restart`);
            await refresh();
            return `Restarted the link of ${l.exchange ?? l.queue ?? ''} from ${l.upstream}.`;
          }),
      },
    ],
    { filter: (l) => `${l.vhost} ${l.exchange ?? ''} ${l.upstream} ${l.status}`, empty: 'No links: a policy with federation-upstream-set or federation-upstream federates exchanges.' },
  );
  const upstreams = new Table<ParameterInfo>(
    'federation-upstreams',
    [
      { label: 'Virtual host', value: (p) => p.vhost },
      { label: 'Name', value: (p) => p.name },
      { label: 'URI', value: (p) => bare(p.value.uri) },
      { label: 'Exchange', value: (p) => String(p.value.exchange ?? '') },
      { label: 'Max hops', value: (p) => String(p.value['max-hops'] ?? 1) },
      { label: 'Expires', value: (p) => String(p.value.expires ?? '') },
      {
        label: '',
        value: () => '',
        render: (p) =>
          actionButton('Delete', { 'data-delete-upstream': p.name }, `Delete upstream ${p.name}?`, msg, async () => {
            await del(`/api/parameters/federation-upstream/${enc(p.vhost)}/${enc(p.name)}`);
            await refresh();
            return `Deleted upstream ${p.name}.`;
          }),
      },
    ],
    { filter: (p) => `${p.vhost} ${p.name}`, empty: 'No upstreams.' },
  );

  const vhostSelect = h('select', { name: 'vhost' });
  const name = h('input', { name: 'name', required: true, placeholder: 'upstream name' });
  const uri = h('input', { name: 'uri', required: true, placeholder: 'amqp://user:pass@upstream-host:5672/vhost' });
  const exchange = h('input', { name: 'exchange', placeholder: "upstream exchange (empty: the federated exchange's name)" });
  const maxHops = h('input', { name: 'max-hops', type: 'number', value: 1 });
  const expires = h('input', { name: 'expires', type: 'number', placeholder: 'ms the upstream queue outlives the link (empty: forever)' });
  const ackMode = h('select', { name: 'ack-mode' }, ...['on-confirm', 'on-publish', 'no-ack'].map((m) => h('option', { value: m }, m)));
  const add = panel(
    'Add an upstream',
    form(
      'federation-upstream',
      'Add upstream',
      msg,
      async () => {
        const value: { [k: string]: unknown } = { uri: uri.value, 'max-hops': Number(maxHops.value || 1), 'ack-mode': ackMode.value };
        if (exchange.value !== '') value.exchange = exchange.value;
        if (expires.value !== '') value.expires = Number(expires.value);
        await put(`/api/parameters/federation-upstream/${enc(vhostSelect.value)}/${enc(name.value)}`, { value });
        await refresh();
        return `Upstream ${name.value} added.`;
      },
      [
        ['Virtual host', vhostSelect],
        ['Name', name],
        ['URI', uri],
        ['Exchange', exchange],
        ['Max hops', maxHops],
        ['Expires (ms)', expires],
        ['Acknowledge', ackMode],
      ],
    ),
  );

  const refresh = async (): Promise<void> => {
    const [vhosts, ls, ups] = await Promise.all([get<VhostInfo[]>('/api/vhosts'), get<LinkInfo[]>('/api/federation-links'), get<ParameterInfo[]>('/api/parameters/federation-upstream')]);
    links.update(ls);
    upstreams.update(ups);
    syncOptions(vhostSelect, vhosts.map((v) => v.name), '/');
  };
  return {
    title: 'Federation',
    el: h('div', { class: 'page federation' }, h('h1', null, 'Federation'), h('h2', null, 'Links'), links.el, h('h2', null, 'Upstreams'), upstreams.el, add, msg),
    refresh,
  };
}
