// The node: memory against the high watermark (with a chart and where the memory goes), free disk
// against its limit, file descriptors, sockets, raised alarms, listeners, and the cluster's nodes.
import { enc, get, type NodeInfo } from '../api';
import { History, LiveChart, chartRange, historyQuery, rangeSelect } from '../chart';
import { fmtBytes, fmtDuration, fmtInt, h, replace, Table } from '../dom';
import { props } from '../forms';
import type { Page } from '../page';
import { stat } from './overview';

// Kept across navigations, as the overview's.
const memory = new History(2);

const MEMORY_PARTS: [string, string][] = [
  ['heap_used', 'JS heap in use (queues, indexes, connections)'],
  ['binary', 'Buffers (message bodies)'],
  ['heap_unused', 'JS heap allocated, not in use'],
  ['external_other', 'Other native memory'],
  ['other_rss', 'Code, stacks and allocator slack'],
];

const part = (v: unknown): number => (typeof v === 'number' ? v : 0);
const ratio = (used: number | null | undefined, total: number | null | undefined): string =>
  used === null || used === undefined ? '—' : total ? `${((used / total) * 100).toFixed(0)}%` : '';

export function nodePage(name?: string): Page {
  const stats = h('div', { class: 'stats' });
  const alarms = h('div', { class: 'alarms', 'data-alarms': '' });
  const limits = h('dl', { class: 'props' });
  const breakdown = h('div', { class: 'breakdown', 'data-memory': '' });
  const chart = new LiveChart(
    'Memory',
    [
      { label: 'Used', color: '#d9652b' },
      { label: 'High watermark', color: '#c0392b' },
    ],
    memory,
    (v) => fmtBytes(v),
    { height: 160, axisSize: 72 },
  );
  const nodes = new Table<NodeInfo>('nodes', [
    { label: 'Node', value: (n) => n.name, render: (n) => h('a', { href: `#/nodes/${enc(n.name)}` }, n.name) },
    { label: 'Running', value: (n) => n.running },
    { label: 'Uptime', value: (n) => n.uptime, render: (n) => fmtDuration(n.uptime), num: true },
    { label: 'Listeners', value: (n) => n.listeners.map((l) => `${l.protocol} ${l.ip_address}:${l.port}`).join(', ') },
  ]);
  const title = h('span', { class: 'node-name' }, name ?? '');
  let seeded = false;
  const range = rangeSelect(() => {
    seeded = false;
  });
  const el = h(
    'div',
    { class: 'page node' },
    h('div', { class: 'title-row' }, h('h1', null, 'Node ', title), h('label', { class: 'muted' }, 'Chart: ', range)),
    alarms,
    stats,
    h('div', { class: 'columns' }, chart.el, h('section', { class: 'panel' }, h('h2', null, 'Where the memory goes'), breakdown)),
    h('section', { class: 'panel' }, h('h2', null, 'Limits'), limits),
    h('h2', null, 'Cluster nodes'),
    nodes.el,
  );
  return {
    title: 'Node',
    el,
    async refresh(o) {
      const all = await get<NodeInfo[]>('/api/nodes');
      nodes.update(all);
      const nodeName = name ?? o.node;
      title.textContent = nodeName;
      const n = await get<NodeInfo>(`/api/nodes/${enc(nodeName)}?memory=true${seeded ? '' : `&${historyQuery(['node_stats'])}`}`);
      if (!seeded && n.mem_used_details?.samples) {
        // The broker's own history of memory in use, so the chart shows the last minutes at once.
        memory.maxAgeS = chartRange();
        memory.seed(n.mem_used_details.samples.map((p) => [p.timestamp / 1000, p.sample, n.mem_limit ?? 0]).reverse());
      }
      seeded = true;
      const raised = n.alarms ?? [];
      replace(
        alarms,
        raised.length
          ? h('p', { class: 'alarm on' }, `Alarm: ${raised.map((a) => (a === 'memory' ? 'memory over the high watermark' : 'free disk under the limit')).join(' and ')} — publishing connections are blocked.`)
          : h('p', { class: 'alarm off' }, n.mem_used === undefined ? 'Resources are shown by the node itself (open its management port).' : 'No alarms: publishers are not blocked.'),
      );
      if (n.mem_used === undefined) return;
      if (!n.mem_used_details) memory.push([n.mem_used, n.mem_limit ?? 0]);
      chart.update(memory);
      replace(
        stats,
        stat(`Memory (${ratio(n.mem_used, n.mem_limit)} of watermark)`, fmtBytes(n.mem_used), 'mem-used'),
        stat('Disk free', n.disk_free === null || n.disk_free === undefined ? '—' : fmtBytes(n.disk_free), 'disk-free'),
        stat(`File descriptors (${ratio(n.fd_used, n.fd_total)})`, n.fd_used === null || n.fd_used === undefined ? '—' : fmtInt(n.fd_used), 'fd-used'),
        stat('Sockets', fmtInt(n.sockets_used), 'sockets'),
        stat('Processors', fmtInt(n.processors), 'processors'),
        stat('Uptime', fmtDuration(n.uptime), 'uptime'),
      );
      const total = n.memory?.total as Record<string, number> | undefined;
      const rss = total?.rss ?? 1;
      replace(
        breakdown,
        ...MEMORY_PARTS.map(([k, label]) => {
          const v = part(n.memory?.[k]);
          return h(
            'div',
            { class: 'bar-row', 'data-part': k },
            h('span', { class: 'bar-label' }, label),
            h('span', { class: 'bar' }, h('span', { class: 'bar-fill', style: `width:${Math.min(100, (v / rss) * 100).toFixed(1)}%` })),
            h('span', { class: 'bar-value' }, fmtBytes(v)),
          );
        }),
        h('p', { class: 'muted' }, `Resident: ${fmtBytes(rss)} · counted against the watermark (heap in use + buffers): ${fmtBytes(n.mem_used)}`),
      );
      replace(
        limits,
        ...props([
          ['Memory high watermark', `${fmtBytes(n.mem_limit ?? 0)} (of ${fmtBytes(n.mem_total ?? 0)} RAM)`],
          ['Disk free limit', fmtBytes(n.disk_free_limit ?? 0)],
          ['File descriptors', n.fd_total ? `${fmtInt(n.fd_used ?? 0)} of ${fmtInt(n.fd_total)}` : '—'],
          ['Process id', n.os_pid],
          ['Listeners', n.listeners.map((l) => `${l.protocol} ${l.ip_address}:${l.port}`).join(', ')],
        ]),
      );
    },
    dispose: () => chart.dispose(),
  };
}
