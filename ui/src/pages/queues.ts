import { del, enc, get, permits, post, put, vhostsAllowing, type BindingInfo, type ConsumerInfo, type ExchangeInfo, type GotMessage, type QueueInfo } from '../api';
import { fetchPage } from '../paged';
import { History, LiveChart, chartRange, historyQuery, rangeSelect, ratesOf } from '../chart';
import { fmtBytes, fmtInt, fmtRate, h, note, queueHref, replace, Table } from '../dom';
import { syncOptions } from '../forms';
import type { Page } from '../page';
import { queueBindings } from './bindings';
import { stat } from './overview';

const features = (q: QueueInfo): string => [q.durable && 'D', q.auto_delete && 'AD', q.exclusive && 'Excl', Object.keys(q.arguments).length > 0 && 'Args'].filter(Boolean).join(' ');
const rateOf = (q: QueueInfo, k: 'publish_details' | 'deliver_get_details' | 'ack_details'): number => q.message_stats?.[k]?.rate ?? 0;

/** How far back the broker keeps a queue's history (src/management/queue-history.ts). */
const QUEUE_HISTORY_S = 600;

/** Fills a queue page's charts from the broker-kept samples of the queue (newest first). */
function seedQueueCharts(q: QueueInfo, rates: History, lengths: History): void {
  const s = q.message_stats;
  const [pub, dg, ack] = [s?.publish_details, s?.deliver_get_details, s?.ack_details].map((d) => ratesOf(d?.samples ?? []));
  const longest = [pub!, dg!, ack!].reduce((a, b) => (b.length > a.length ? b : a));
  const at = (series: [number, number][], t: number): number => series.find(([x]) => x === t)?.[1] ?? 0;
  rates.seed(longest.map(([t]) => [t, at(pub!, t), at(dg!, t), at(ack!, t)]));
  const total = q.messages_details?.samples ?? [];
  const ready = q.messages_ready_details?.samples ?? [];
  const unacked = q.messages_unacknowledged_details?.samples ?? [];
  lengths.seed(total.map((p, i) => [p.timestamp / 1000, ready[i]?.sample ?? 0, unacked[i]?.sample ?? 0, p.sample]).reverse());
}

export function queuesPage(): Page {
  const table = new Table<QueueInfo>(
    'queues',
    [
      { label: 'Virtual host', value: (q) => q.vhost, key: 'vhost' },
      { label: 'Name', key: 'name', value: (q) => q.name, render: (q) => h('a', { href: queueHref(q.vhost, q.name), class: 'queue-link' }, q.name || '(unnamed)') },
      { label: 'Type', value: (q) => q.type, key: 'type' },
      { label: 'Features', value: features, title: 'D durable · AD auto-delete · Excl exclusive · Args arguments' },
      { label: 'Ready', key: 'messages_ready', value: (q) => q.messages_ready, render: (q) => fmtInt(q.messages_ready), num: true },
      { label: 'Unacked', key: 'messages_unacknowledged', value: (q) => q.messages_unacknowledged, render: (q) => fmtInt(q.messages_unacknowledged), num: true },
      { label: 'Total', key: 'messages', value: (q) => q.messages, render: (q) => fmtInt(q.messages), num: true },
      { label: 'Consumers', key: 'consumers', value: (q) => q.consumers, num: true },
      { label: 'Incoming', key: 'message_stats.publish_details.rate', value: (q) => rateOf(q, 'publish_details'), render: (q) => fmtRate(rateOf(q, 'publish_details')), num: true },
      { label: 'Deliver / get', key: 'message_stats.deliver_get_details.rate', value: (q) => rateOf(q, 'deliver_get_details'), render: (q) => fmtRate(rateOf(q, 'deliver_get_details')), num: true },
      { label: 'Ack', key: 'message_stats.ack_details.rate', value: (q) => rateOf(q, 'ack_details'), render: (q) => fmtRate(rateOf(q, 'ack_details')), num: true },
      { label: 'Policy', key: 'policy', value: (q) => [q.policy, q.operator_policy].filter(Boolean).join(' · '), title: 'policy · operator policy' },
    ],
    // The broker pages, filters (by name) and sorts: a page costs the same with 10,000 queues.
    { filter: (q) => q.name, empty: 'No queues.', remote: () => void refresh().catch((e: Error) => note(msg, e.message, 'error')) },
  );

  const vhostSelect = h('select', { name: 'vhost' });
  const name = h('input', { name: 'name', required: true, placeholder: 'queue name' });
  const durable = h('input', { type: 'checkbox', name: 'durable', checked: true });
  const autoDelete = h('input', { type: 'checkbox', name: 'auto_delete' });
  const msg = h('div', { class: 'note' });
  const add = h(
    'details',
    { class: 'panel' },
    h('summary', null, 'Add a queue'),
    h(
      'form',
      {
        class: 'form-grid',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            await put(`/api/queues/${enc(vhostSelect.value)}/${enc(name.value)}`, { durable: durable.checked, auto_delete: autoDelete.checked });
            note(msg, `Queue ${name.value} declared.`);
            name.value = '';
            await refresh();
          } catch (err) {
            note(msg, (err as Error).message, 'error');
          }
        },
      },
      h('label', null, 'Virtual host'),
      vhostSelect,
      h('label', null, 'Name'),
      name,
      h('label', null, 'Durable'),
      durable,
      h('label', null, 'Auto delete'),
      autoDelete,
      h('span'),
      h('button', { type: 'submit', class: 'primary' }, 'Add queue'),
    ),
    msg,
  );

  const refresh = async (): Promise<void> => {
    await fetchPage(table, '/api/queues');
    // Offered: the vhosts where the user may configure (declare) something.
    syncOptions(vhostSelect, vhostsAllowing('configure'), '/');
  };
  return { title: 'Queues', el: h('div', { class: 'page queues' }, h('h1', null, 'Queues'), table.el, vhostsAllowing('configure').length > 0 && add), refresh };
}

export function queuePage(vhost: string, name: string): Page {
  const base = `/api/queues/${enc(vhost)}/${enc(name)}`;
  const stats = h('div', { class: 'stats' });
  const details = h('dl', { class: 'props' });
  const history = new History(3);
  const chart = new LiveChart(
    'Message rates',
    [
      { label: 'Incoming', color: '#d9652b' },
      { label: 'Deliver / get', color: '#2b7bd9' },
      { label: 'Ack', color: '#2ba35a' },
    ],
    history,
    (v) => `${+v.toFixed(1)}/s`,
    { height: 160 },
  );
  const lengths = new History(3);
  const lengthChart = new LiveChart(
    'Queued messages',
    [
      { label: 'Ready', color: '#c9a227' },
      { label: 'Unacked', color: '#8e5bd9' },
      { label: 'Total', color: '#556' },
    ],
    lengths,
    (v) => fmtInt(Math.round(v)),
    { height: 160, integer: true },
  );
  // The first refresh (and one after the range changes) asks for the broker's history of the queue.
  let seeded = false;
  const range = rangeSelect(() => {
    seeded = false;
    void refresh();
  });
  const bindings = queueBindings(vhost, name, () => refresh());
  const consumers = new Table<ConsumerInfo>(
    'queue-consumers',
    [
      { label: 'Channel', value: (c) => c.channel_details.name, render: (c) => h('a', { href: `#/channels/${enc(c.channel_details.name)}` }, c.channel_details.name) },
      { label: 'Consumer tag', value: (c) => c.consumer_tag },
      { label: 'User', value: (c) => c.channel_details.user },
      { label: 'Ack required', value: (c) => c.ack_required },
      { label: 'Exclusive', value: (c) => c.exclusive },
      { label: 'Prefetch', value: (c) => c.prefetch_count, num: true },
      { label: 'Arguments', value: (c) => (Object.keys(c.arguments).length ? JSON.stringify(c.arguments) : '') },
    ],
    { empty: 'No consumers.' },
  );

  // ---- publish
  const exchange = h('select', { name: 'exchange' }, h('option', { value: 'amq.default' }, '(AMQP default)'));
  const routingKey = h('input', { name: 'routing_key', value: name });
  exchange.addEventListener('change', () => {
    if (exchange.value === 'amq.default') routingKey.value = name;
  });
  const deliveryMode = h('select', { name: 'delivery_mode' }, h('option', { value: '1' }, '1 – non-persistent'), h('option', { value: '2' }, '2 – persistent'));
  const contentType = h('input', { name: 'content_type', placeholder: 'e.g. text/plain' });
  const headers = h('input', { name: 'headers', placeholder: '{"key": "value"}' });
  const payload = h('textarea', { name: 'payload', rows: 4 });
  const pubMsg = h('div', { class: 'note', 'data-result': 'publish' });
  const publishForm = h(
    'form',
    {
      class: 'form-grid',
      'data-form': 'publish',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          const properties: Record<string, unknown> = { delivery_mode: Number(deliveryMode.value) };
          if (contentType.value) properties.content_type = contentType.value;
          if (headers.value.trim()) {
            let parsed: unknown;
            try {
              parsed = JSON.parse(headers.value);
            } catch {
              throw new Error('Headers must be a JSON object');
            }
            if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('Headers must be a JSON object');
            properties.headers = parsed;
          }
          const r = await post<{ routed: boolean }>(`/api/exchanges/${enc(vhost)}/${enc(exchange.value)}/publish`, {
            routing_key: routingKey.value,
            payload: payload.value,
            payload_encoding: 'string',
            properties,
          });
          note(pubMsg, r.routed ? 'Message published.' : 'Message published, but not routed.', r.routed ? 'ok' : 'error');
          await refresh();
        } catch (err) {
          note(pubMsg, (err as Error).message, 'error');
        }
      },
    },
    h('label', null, 'Exchange'),
    exchange,
    h('label', null, 'Routing key'),
    routingKey,
    h('label', null, 'Delivery mode'),
    deliveryMode,
    h('label', null, 'Content type'),
    contentType,
    h('label', null, 'Headers (JSON)'),
    headers,
    h('label', null, 'Payload'),
    payload,
    h('span'),
    h('button', { type: 'submit', class: 'primary' }, 'Publish message'),
  );

  // ---- get
  const ackmode = h(
    'select',
    { name: 'ackmode' },
    h('option', { value: 'ack_requeue_true' }, 'Nack message, requeue'),
    h('option', { value: 'ack_requeue_false' }, 'Ack message (remove from queue)'),
    h('option', { value: 'reject_requeue_true' }, 'Reject, requeue'),
  );
  const count = h('input', { name: 'count', type: 'number', min: 1, value: 1 });
  const gotList = h('div', { class: 'messages', 'data-result': 'get' });
  const getForm = h(
    'form',
    {
      class: 'form-grid',
      'data-form': 'get',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          const got = await post<GotMessage[]>(`${base}/get`, { count: Math.max(1, Number(count.value) || 1), ackmode: ackmode.value, encoding: 'auto' });
          replace(gotList, ...(got.length === 0 ? [h('p', { class: 'note' }, 'Queue is empty.')] : got.map((m, i) => messageView(m, i + 1))));
          await refresh();
        } catch (err) {
          replace(gotList, h('p', { class: 'note error' }, (err as Error).message));
        }
      },
    },
    h('label', null, 'Ack mode'),
    ackmode,
    h('label', null, 'Messages'),
    count,
    h('span'),
    h('button', { type: 'submit', class: 'primary' }, 'Get messages'),
  );

  // ---- purge / delete
  const dangerMsg = h('div', { class: 'note' });
  const purge = h(
    'button',
    {
      type: 'button',
      class: 'danger',
      'data-action': 'purge',
      onclick: async () => {
        if (!confirm(`Purge all ready messages from ${name}?`)) return;
        try {
          await del(`${base}/contents`);
          note(dangerMsg, 'Queue purged.');
          await refresh();
        } catch (err) {
          note(dangerMsg, (err as Error).message, 'error');
        }
      },
    },
    'Purge messages',
  );
  const remove = h(
    'button',
    {
      type: 'button',
      class: 'danger',
      'data-action': 'delete',
      onclick: async () => {
        if (!confirm(`Delete queue ${name}?`)) return;
        try {
          await del(base);
          location.hash = '#/queues';
        } catch (err) {
          note(dangerMsg, (err as Error).message, 'error');
        }
      },
    },
    'Delete queue',
  );

  const missing = h('p', { class: 'note error', hidden: true }, 'This queue does not exist (any more).');
  // Publishing from a queue's page: through the default exchange (write on amq.default), or, on a
  // queue the user may write to (bind), through the exchanges they may write to.
  const mayPublish = permits(vhost, 'write', 'amq.default') || permits(vhost, 'write', name);
  const mayRead = permits(vhost, 'read', name);
  const mayDelete = permits(vhost, 'configure', name);
  if (!permits(vhost, 'write', 'amq.default')) exchange.replaceChildren();
  const el = h(
    'div',
    { class: 'page queue' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/queues' }, 'Queues'), ' › virtual host ', h('code', null, vhost)),
    h('h1', null, 'Queue ', h('span', { class: 'queue-name' }, name)),
    missing,
    stats,
    h('div', { class: 'title-row' }, h('span'), h('label', { class: 'muted' }, 'Charts (the broker keeps 10 minutes): ', range)),
    h('div', { class: 'columns' }, h('div', null, chart.el), h('div', null, lengthChart.el)),
    h('section', { class: 'panel' }, h('h2', null, 'Details'), details),
    h('section', { class: 'panel' }, h('h2', null, 'Consumers'), consumers.el),
    // Offered as the user's vhost permissions allow (as the API checks them): publishing needs write
    // on an exchange, getting and purging read on the queue, deleting configure on it.
    (mayPublish || mayRead) &&
      h(
        'div',
        { class: 'columns' },
        mayPublish && h('section', { class: 'panel' }, h('h2', null, 'Publish message'), publishForm, pubMsg),
        mayRead && h('section', { class: 'panel' }, h('h2', null, 'Get messages'), getForm, gotList),
      ),
    bindings.el,
    (mayRead || mayDelete) && h('section', { class: 'panel' }, h('h2', null, 'Purge or delete'), h('div', { class: 'buttons' }, mayRead && purge, mayDelete && remove), dangerMsg),
  );

  let exchangesLoaded = false;
  const refresh = async (): Promise<void> => {
    let q: QueueInfo;
    const seed = !seeded;
    try {
      const span = Math.min(chartRange(), QUEUE_HISTORY_S);
      q = await get<QueueInfo>(seed ? `${base}?${historyQuery(['msg_rates', 'lengths'], span)}` : base);
    } catch (err) {
      if ((err as { status?: number }).status === 404) {
        missing.hidden = false;
        return;
      }
      throw err;
    }
    missing.hidden = true;
    if (seed) {
      seeded = true;
      history.maxAgeS = lengths.maxAgeS = Math.min(chartRange(), QUEUE_HISTORY_S);
      seedQueueCharts(q, history, lengths);
    } else {
      history.push([rateOf(q, 'publish_details'), rateOf(q, 'deliver_get_details'), rateOf(q, 'ack_details')]);
      lengths.push([q.messages_ready, q.messages_unacknowledged, q.messages]);
    }
    chart.update(history);
    lengthChart.update(lengths);
    replace(
      stats,
      stat('Ready', fmtInt(q.messages_ready), 'messages-ready'),
      stat('Unacked', fmtInt(q.messages_unacknowledged), 'messages-unacked'),
      stat('Total', fmtInt(q.messages), 'messages'),
      stat('Ready bytes', fmtBytes(q.message_bytes_ready ?? 0), 'bytes'),
      stat('Consumers', fmtInt(q.consumers), 'consumers'),
      stat('Incoming', fmtRate(rateOf(q, 'publish_details')), 'publish-rate'),
      stat('Deliver / get', fmtRate(rateOf(q, 'deliver_get_details')), 'deliver-rate'),
      stat('Ack', fmtRate(rateOf(q, 'ack_details')), 'ack-rate'),
    );
    const args = Object.entries(q.arguments);
    replace(
      details,
      h('dt', null, 'Virtual host'),
      h('dd', null, q.vhost),
      h('dt', null, 'Type'),
      h('dd', null, q.type),
      h('dt', null, 'State'),
      h('dd', null, q.state),
      h('dt', null, 'Durable'),
      h('dd', null, String(q.durable)),
      h('dt', null, 'Auto delete'),
      h('dd', null, String(q.auto_delete)),
      h('dt', null, 'Exclusive'),
      h('dd', null, String(q.exclusive)),
      h('dt', null, 'Arguments'),
      h('dd', null, args.length ? args.map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ') : '—'),
    );
    // The queue's own answer lists its consumers (consumer_details, as RabbitMQ).
    consumers.update(q.consumer_details ?? []);
    const [bs, exs] = await Promise.all([
      get<BindingInfo[]>(`${base}/bindings`),
      exchangesLoaded || !mayPublish ? Promise.resolve(null) : get<ExchangeInfo[]>(`/api/exchanges/${enc(vhost)}?columns=name,internal`),
    ]);
    if (exs) {
      exchangesLoaded = true;
      exchangeNames = exs.map((x) => x.name);
      append(exchange, exs.filter((x) => x.name !== '' && !x.internal && permits(vhost, 'write', x.name)).map((x) => x.name));
    }
    bindings.update(bs, exchangeNames, []);
  };
  let exchangeNames: string[] = [];
  return {
    title: `Queue ${name}`,
    el,
    refresh,
    dispose: () => {
      chart.dispose();
      lengthChart.dispose();
    },
  };
}

function append(select: HTMLSelectElement, names: string[]): void {
  for (const n of names) select.appendChild(h('option', { value: n }, n));
}

function messageView(m: GotMessage, i: number): HTMLElement {
  const props = Object.entries(m.properties);
  return h(
    'div',
    { class: 'message', 'data-message': i },
    h('div', { class: 'message-head' }, `Message ${i}`, h('span', { class: 'muted' }, ` · ${m.message_count} left in queue`)),
    h(
      'dl',
      { class: 'props' },
      h('dt', null, 'Exchange'),
      h('dd', null, m.exchange || '(AMQP default)'),
      h('dt', null, 'Routing key'),
      h('dd', null, m.routing_key),
      h('dt', null, 'Redelivered'),
      h('dd', null, String(m.redelivered)),
      h('dt', null, 'Properties'),
      h('dd', null, props.length ? props.map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('; ') : '—'),
      h('dt', null, 'Payload'),
      h('dd', null, h('span', { class: 'muted' }, `${m.payload_bytes} bytes, encoding ${m.payload_encoding}`), h('pre', { class: 'payload' }, m.payload)),
    ),
  );
}
