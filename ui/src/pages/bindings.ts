// Binding tables with a remove button per row and an "add binding" form, for the queue page
// (bindings into the queue) and the exchange page (bindings out of it, and into it).
import { del, enc, permits, post, vhostsAllowing, type BindingInfo } from '../api';
import { h, Table, type Column } from '../dom';
import { actionButton, argsEditor, form, panel, suggest } from '../forms';

const argsText = (b: BindingInfo): string => (Object.keys(b.arguments).length ? JSON.stringify(b.arguments) : '');
const bindingPath = (vhost: string, src: string, type: string, dst: string): string =>
  `/api/bindings/${enc(vhost)}/e/${enc(src)}/${type === 'queue' ? 'q' : 'e'}/${enc(dst)}`;
export const exchangeHref = (vhost: string, name: string): string => `#/exchanges/${enc(vhost)}/${enc(name)}`;

function bindingTable(id: string, vhost: string, show: 'source' | 'destination', msg: HTMLElement, changed: () => Promise<void>): Table<BindingInfo> {
  const cols: Column<BindingInfo>[] =
    show === 'source'
      ? [{ label: 'From exchange', value: (b) => b.source, render: (b) => h('a', { href: exchangeHref(vhost, b.source) }, b.source) }]
      : [
          { label: 'To', value: (b) => b.destination_type },
          { label: 'Destination', value: (b) => b.destination, render: (b) => h('a', { href: b.destination_type === 'queue' ? `#/queues/${enc(vhost)}/${enc(b.destination)}` : exchangeHref(vhost, b.destination) }, b.destination) },
        ];
  cols.push({ label: 'Routing key', value: (b) => b.routing_key }, { label: 'Arguments', value: argsText });
  // Unbinding needs write on the destination and read on the source, as over AMQP.
  const mayUnbind = (b: BindingInfo): boolean => permits(vhost, 'write', b.destination) && permits(vhost, 'read', b.source);
  if (vhostsAllowing('write').includes(vhost)) {
    cols.push({
      label: '',
      value: () => '',
      render: (b) =>
        mayUnbind(b) &&
        actionButton('Unbind', { 'data-unbind': `${b.source}|${b.destination}|${b.routing_key}` }, null, msg, async () => {
          await del(`${bindingPath(vhost, b.source, b.destination_type, b.destination)}/${enc(b.properties_key)}`);
          await changed();
          return `Unbound ${b.destination} from ${b.source}.`;
        }),
    });
  }
  return new Table<BindingInfo>(id, cols, { empty: 'No bindings.' });
}

export interface BindingsPanel {
  el: HTMLElement;
  update(bindings: BindingInfo[], exchanges: string[], queues: string[]): void;
}

/** On a queue page: the bindings into the queue, and a form binding it to an exchange. */
export function queueBindings(vhost: string, queue: string, changed: () => Promise<void>): BindingsPanel {
  const msg = h('div', { class: 'note', 'data-result': 'bind' });
  const table = bindingTable('queue-bindings', vhost, 'source', msg, changed);
  const source = h('input', { name: 'source', required: true, placeholder: 'exchange name' });
  const sources = suggest(source, 'bind-sources');
  const rk = h('input', { name: 'routing_key', placeholder: 'routing key' });
  const args = argsEditor();
  const add = form('bind', 'Bind', msg, async () => {
    await post(bindingPath(vhost, source.value, 'queue', queue), { routing_key: rk.value, arguments: args.value() });
    await changed();
    return `Bound to ${source.value}.`;
  }, [
    ['From exchange', sources.el],
    ['Routing key', rk],
    ['Arguments', args.el],
  ]);
  const el = h(
    'section',
    { class: 'panel' },
    h('h2', null, 'Bindings'),
    h('p', { class: 'muted' }, 'Also bound to the default exchange with its name as routing key.'),
    table.el,
    permits(vhost, 'write', queue) && vhostsAllowing('read').includes(vhost) && panel('Add binding from an exchange', add),
    msg,
  );
  return {
    el,
    update(bindings, exchanges) {
      table.update(bindings.filter((b) => b.destination_type === 'queue' && b.destination === queue && b.source !== ''));
      sources.set(exchanges.filter((x) => x !== ''));
    },
  };
}

/** On an exchange page: bindings out of it (with a form adding one) and into it. */
export function exchangeBindings(vhost: string, exchange: string, changed: () => Promise<void>): BindingsPanel {
  const msg = h('div', { class: 'note', 'data-result': 'bind' });
  const out = bindingTable('exchange-bindings-out', vhost, 'destination', msg, changed);
  const into = bindingTable('exchange-bindings-in', vhost, 'source', msg, changed);
  const type = h('select', { name: 'destination_type' }, h('option', { value: 'queue' }, 'queue'), h('option', { value: 'exchange' }, 'exchange'));
  const dest = h('input', { name: 'destination', required: true, placeholder: 'queue or exchange name' });
  const dests = suggest(dest, 'bind-destinations');
  const rk = h('input', { name: 'routing_key', placeholder: 'routing key' });
  const args = argsEditor();
  let names = { exchanges: [] as string[], queues: [] as string[] };
  const offer = (): void => dests.set(type.value === 'queue' ? names.queues : names.exchanges.filter((x) => x !== ''));
  type.addEventListener('change', offer);
  const add = form('bind', 'Bind', msg, async () => {
    await post(bindingPath(vhost, exchange, type.value, dest.value), { routing_key: rk.value, arguments: args.value() });
    await changed();
    return `Bound ${dest.value} to ${exchange}.`;
  }, [
    ['To', type],
    ['Destination', dests.el],
    ['Routing key', rk],
    ['Arguments', args.el],
  ]);
  const el = h(
    'div',
    null,
    h('section', { class: 'panel' }, h('h2', null, 'Bindings from this exchange'), out.el, permits(vhost, 'read', exchange) && vhostsAllowing('write').includes(vhost) && panel('Add binding from this exchange', add), msg),
    h('section', { class: 'panel' }, h('h2', null, 'Bindings to this exchange'), into.el),
  );
  return {
    el,
    update(bindings, exchanges, queues) {
      out.update(bindings.filter((b) => b.source === exchange));
      into.update(bindings.filter((b) => b.destination_type === 'exchange' && b.destination === exchange));
      names = { exchanges, queues };
      offer();
    },
  };
}
