// One exchange: its message rates in and out (with a chart), its properties, bindings out of and
// into it (add / unbind), publishing a message through it, and deleting it; each action offered
// only when the user's vhost permissions allow it.
import { del, enc, get, permits, post, type BindingInfo, type ExchangeInfo, type QueueInfo } from '../api';
import { History, LiveChart } from '../chart';
import { fmtInt, fmtRate, h, replace } from '../dom';
import { actionButton, form, props } from '../forms';
import type { Page } from '../page';
import { exchangeBindings } from './bindings';
import { stat } from './overview';

export function exchangePage(vhost: string, name: string): Page {
  const base = `/api/exchanges/${enc(vhost)}/${enc(name)}`;
  const details = h('dl', { class: 'props' });
  const stats = h('div', { class: 'stats' });
  const rates = new History(2);
  const chart = new LiveChart(
    'Message rates',
    [
      { label: 'In', color: '#d9652b' },
      { label: 'Out', color: '#2b7bd9' },
    ],
    rates,
    (v) => `${+v.toFixed(1)}/s`,
    { height: 160 },
  );
  const mayPublish = permits(vhost, 'write', name);
  const mayDelete = permits(vhost, 'configure', name);
  const mayBind = permits(vhost, 'read', name);
  const missing = h('p', { class: 'note error', hidden: true }, 'This exchange does not exist (any more).');
  const bindings = exchangeBindings(vhost, name, () => refresh());

  const pubMsg = h('div', { class: 'note', 'data-result': 'publish' });
  const rk = h('input', { name: 'routing_key', placeholder: 'routing key' });
  const deliveryMode = h('select', { name: 'delivery_mode' }, h('option', { value: '1' }, '1 – non-persistent'), h('option', { value: '2' }, '2 – persistent'));
  const headers = h('input', { name: 'headers', placeholder: '{"key": "value"}' });
  const payload = h('textarea', { name: 'payload', rows: 3 });
  const publish = form('publish', 'Publish message', pubMsg, async () => {
    const properties: Record<string, unknown> = { delivery_mode: Number(deliveryMode.value) };
    if (headers.value.trim()) {
      const parsed: unknown = JSON.parse(headers.value);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('Headers must be a JSON object');
      properties.headers = parsed;
    }
    const r = await post<{ routed: boolean }>(`${base}/publish`, { routing_key: rk.value, payload: payload.value, payload_encoding: 'string', properties });
    if (!r.routed) throw new Error('Message published, but not routed.');
    return 'Message published.';
  }, [
    ['Routing key', rk],
    ['Delivery mode', deliveryMode],
    ['Headers (JSON)', headers],
    ['Payload', payload],
  ]);

  const dangerMsg = h('div', { class: 'note' });
  const remove = actionButton('Delete exchange', { 'data-action': 'delete' }, `Delete exchange ${name}?`, dangerMsg, async () => {
    await del(base);
    location.hash = '#/exchanges';
    return '';
  });

  const el = h(
    'div',
    { class: 'page exchange' },
    h('p', { class: 'crumbs' }, h('a', { href: '#/exchanges' }, 'Exchanges'), ' › virtual host ', h('code', null, vhost)),
    h('h1', null, 'Exchange ', h('span', { class: 'exchange-name' }, name)),
    missing,
    stats,
    chart.el,
    h('section', { class: 'panel' }, h('h2', null, 'Details'), details),
    bindings.el,
    mayPublish && h('section', { class: 'panel' }, h('h2', null, 'Publish message'), publish, pubMsg),
    mayDelete && h('section', { class: 'panel' }, h('h2', null, 'Delete'), remove, dangerMsg),
  );

  const refresh = async (): Promise<void> => {
    let x: ExchangeInfo;
    try {
      x = await get<ExchangeInfo>(base);
    } catch (err) {
      if ((err as { status?: number }).status === 404) {
        missing.hidden = false;
        return;
      }
      throw err;
    }
    missing.hidden = true;
    const m = x.message_stats;
    rates.push([m?.publish_in_details?.rate ?? 0, m?.publish_out_details?.rate ?? 0]);
    chart.update(rates);
    replace(
      stats,
      stat('Rate in', fmtRate(m?.publish_in_details?.rate), 'publish-in-rate'),
      stat('Rate out', fmtRate(m?.publish_out_details?.rate), 'publish-out-rate'),
      stat('Published in', fmtInt(m?.publish_in ?? 0), 'publish-in'),
      stat('Routed out', fmtInt(m?.publish_out ?? 0), 'publish-out'),
    );
    replace(
      details,
      ...props([
        ['Virtual host', x.vhost],
        ['Type', x.type],
        ['Durable', x.durable],
        ['Auto delete', x.auto_delete],
        ['Internal', x.internal],
        ['Arguments', Object.keys(x.arguments).length ? x.arguments : '—'],
        ['Policy', x.policy ?? '—'],
      ]),
    );
    const [out, into] = await Promise.all([get<BindingInfo[]>(`${base}/bindings/source`), get<BindingInfo[]>(`${base}/bindings/destination`)]);
    bindings.update([...out, ...into.filter((b) => b.source !== name)], names.xs, names.qs);
  };
  // The names offered in the binding form are read when it is first used: a vhost may hold 10,000 queues.
  let names = { xs: [] as string[], qs: [] as string[] };
  let asked = false;
  bindings.el.addEventListener('focusin', () => {
    if (asked || !mayBind) return;
    asked = true;
    void Promise.all([get<ExchangeInfo[]>(`/api/exchanges/${enc(vhost)}`), get<QueueInfo[]>(`/api/queues/${enc(vhost)}?columns=name`)]).then(([xs, qs]) => {
      names = { xs: xs.map((e) => e.name), qs: qs.map((q) => q.name) };
      void refresh();
    });
  });
  return { title: `Exchange ${name}`, el, refresh, dispose: () => chart.dispose() };
}
