import { get, type Overview } from '../api';
import { History, LiveChart, chartRange, historyQuery, rangeSelect, ratesOf } from '../chart';
import { fmtDuration, fmtInt, fmtRate, h, replace } from '../dom';
import type { Page } from '../page';

// Kept across navigations so the charts show history when coming back to the overview.
const rates = new History(3);
const queued = new History(3);
let last: Overview | null = null;

export function recordOverview(o: Overview): void {
  last = o;
  const s = o.message_stats;
  rates.push([s.publish_details?.rate ?? 0, s.deliver_get_details?.rate ?? 0, s.ack_details?.rate ?? 0]);
  const q = o.queue_totals;
  queued.push([q.messages_ready, q.messages_unacknowledged, q.messages]);
}

/** Fills the charts with the broker's history over the chosen range (so they are not empty on open). */
async function seedOverview(): Promise<void> {
  const o = await get<Overview>(`/api/overview?${historyQuery(['msg_rates', 'lengths'])}`);
  rates.maxAgeS = queued.maxAgeS = chartRange();
  const s = o.message_stats;
  const [pub, dg, ack] = [s.publish_details, s.deliver_get_details, s.ack_details].map((d) => ratesOf(d?.samples ?? []));
  rates.seed(pub!.map(([t, v], i) => [t, v, dg![i]?.[1] ?? 0, ack![i]?.[1] ?? 0]));
  const q = o.queue_totals;
  const total = q.messages_details?.samples;
  if (total) {
    const ready = q.messages_ready_details?.samples ?? [];
    const unacked = q.messages_unacknowledged_details?.samples ?? [];
    queued.seed(total.map((p, i) => [p.timestamp / 1000, ready[i]?.sample ?? 0, unacked[i]?.sample ?? 0, p.sample]).reverse());
  }
}

export const stat = (label: string, value: string, key: string): HTMLElement =>
  h('div', { class: 'stat', 'data-stat': key }, h('div', { class: 'stat-value' }, value), h('div', { class: 'stat-label' }, label));

export function overviewPage(): Page {
  const totals = h('div', { class: 'stats' });
  const info = h('div', { class: 'info' });
  const rateChart = new LiveChart(
    'Message rates',
    [
      { label: 'Publish', color: '#d9652b' },
      { label: 'Deliver / get', color: '#2b7bd9' },
      { label: 'Ack', color: '#2ba35a' },
    ],
    rates,
    (v) => `${+v.toFixed(1)}/s`,
  );
  const queuedChart = new LiveChart(
    'Queued messages',
    [
      { label: 'Ready', color: '#c9a227' },
      { label: 'Unacked', color: '#8e5bd9' },
      { label: 'Total', color: '#556' },
    ],
    queued,
    (v) => fmtInt(Math.round(v)),
    { integer: true },
  );
  let seeded = false;
  const range = rangeSelect(() => {
    seeded = false;
    void page.refresh(last!);
  });
  const el = h(
    'div',
    { class: 'page overview' },
    h('div', { class: 'title-row' }, h('h1', null, 'Overview'), h('label', { class: 'muted' }, 'Charts: ', range)),
    totals,
    h('div', { class: 'charts' }, rateChart.el, queuedChart.el),
    info,
  );

  const page: Page = {
    title: 'Overview',
    el,
    async refresh(o) {
      if (!seeded) {
        seeded = true;
        await seedOverview();
      }
      o = last ?? o;
      const t = o.object_totals;
      const q = o.queue_totals;
      const s = o.message_stats;
      replace(
        totals,
        stat('Publish', fmtRate(s.publish_details?.rate), 'publish-rate'),
        stat('Deliver / get', fmtRate(s.deliver_get_details?.rate), 'deliver-rate'),
        stat('Ack', fmtRate(s.ack_details?.rate), 'ack-rate'),
        stat('Ready', fmtInt(q.messages_ready), 'messages-ready'),
        stat('Unacked', fmtInt(q.messages_unacknowledged), 'messages-unacked'),
        stat('Total messages', fmtInt(q.messages), 'messages'),
        stat('Connections', fmtInt(t.connections), 'connections'),
        stat('Channels', fmtInt(t.channels), 'channels'),
        stat('Exchanges', fmtInt(t.exchanges), 'exchanges'),
        stat('Queues', fmtInt(t.queues), 'queues'),
        stat('Consumers', fmtInt(t.consumers), 'consumers'),
      );
      rateChart.update(rates);
      queuedChart.update(queued);
      replace(
        info,
        h('h2', null, 'Node'),
        h(
          'dl',
          { class: 'props' },
          h('dt', null, 'Product'),
          h('dd', null, `${o.product_name} ${o.product_version}`),
          h('dt', null, 'Node'),
          h('dd', null, h('a', { href: `#/nodes/${encodeURIComponent(o.node)}` }, o.node), ` (cluster ${o.cluster_name})`),
          h('dt', null, 'Uptime'),
          h('dd', null, fmtDuration(o.uptime)),
          h('dt', null, 'Listeners'),
          h('dd', null, o.listeners.map((l) => `${l.protocol} ${l.ip_address}:${l.port}`).join(', ')),
          h('dt', null, 'Totals'),
          h('dd', null, `${fmtInt(s.publish)} published · ${fmtInt(s.deliver_get)} delivered · ${fmtInt(s.ack)} acked`),
        ),
      );
    },
    dispose() {
      rateChart.dispose();
      queuedChart.dispose();
    },
  };
  return page;
}
