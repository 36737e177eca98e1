// Form helpers shared by the pages: a labelled grid form that reports its outcome, a confirmed
// action button, an arguments editor (key / value / type rows) and a select kept in sync with a list.
import { h, note, replace } from './dom';

type Field = [label: string, input: HTMLElement];

/**
 * A `form.form-grid` (data-form=id) whose submit runs `action`; the string it returns is shown as
 * an ok note, a thrown error's message as an error note.
 */
export function form(id: string, submit: string, msg: HTMLElement, action: () => Promise<string>, fields: Field[]): HTMLFormElement {
  const button = h('button', { type: 'submit', class: 'primary' }, submit);
  return h(
    'form',
    {
      class: 'form-grid',
      'data-form': id,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        button.disabled = true;
        try {
          note(msg, await action());
        } catch (err) {
          note(msg, (err as Error).message, 'error');
        } finally {
          button.disabled = false;
        }
      },
    },
    ...fields.flatMap(([label, input]) => [h('label', null, label), input]),
    h('span'),
    button,
  );
}

/** A collapsible panel holding a form (and its note). */
export const panel = (summary: string, ...body: HTMLElement[]): HTMLElement => h('details', { class: 'panel' }, h('summary', null, summary), ...body);

/** A button that asks first (when `ask` is given), runs `action` and notes the outcome in `msg`. */
export function actionButton(label: string, attrs: Record<string, string>, ask: string | null, msg: HTMLElement, action: () => Promise<string>): HTMLButtonElement {
  return h(
    'button',
    {
      type: 'button',
      class: 'danger',
      ...attrs,
      onclick: async () => {
        if (ask && !confirm(ask)) return;
        try {
          note(msg, await action());
        } catch (err) {
          note(msg, (err as Error).message, 'error');
        }
      },
    },
    label,
  );
}

const ARG_TYPES = ['string', 'number', 'boolean', 'list'] as const;

/** Key / value / type rows for x-arguments; value() throws on a value its type refuses. */
export function argsEditor(): { el: HTMLElement; value(): Record<string, unknown>; clear(): void } {
  const rows = h('div', { class: 'args-rows' });
  const addRow = (): void => {
    rows.appendChild(
      h(
        'div',
        { class: 'args-row' },
        h('input', { name: 'arg-key', placeholder: 'key, e.g. alternate-exchange', 'aria-label': 'Argument key' }),
        h('input', { name: 'arg-value', placeholder: 'value', 'aria-label': 'Argument value' }),
        h('select', { name: 'arg-type', 'aria-label': 'Argument type' }, ...ARG_TYPES.map((t) => h('option', { value: t }, t))),
      ),
    );
  };
  addRow();
  const el = h('div', { class: 'args', 'data-args': '' }, rows, h('button', { type: 'button', class: 'small', 'data-action': 'add-arg', onclick: addRow }, '+ argument'));
  return {
    el,
    value() {
      const out: Record<string, unknown> = {};
      for (const row of rows.children) {
        const [k, v, t] = [...row.querySelectorAll('input, select')] as (HTMLInputElement | HTMLSelectElement)[];
        const key = k!.value.trim();
        if (!key) continue;
        const raw = v!.value;
        switch (t!.value) {
          case 'number': {
            const n = Number(raw);
            if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`Argument ${key}: ${JSON.stringify(raw)} is not a number`);
            out[key] = n;
            break;
          }
          case 'boolean':
            if (!/^(true|false)$/i.test(raw.trim())) throw new Error(`Argument ${key}: a boolean is true or false`);
            out[key] = raw.trim().toLowerCase() === 'true';
            break;
          case 'list':
            out[key] = raw.split(',').map((s) => s.trim()).filter(Boolean);
            break;
          default:
            out[key] = raw;
        }
      }
      return out;
    },
    clear() {
      replace(rows);
      addRow();
    },
  };
}

/** Replaces a select's options when the list changed, keeping the current choice (or `preferred`). */
export function syncOptions(select: HTMLSelectElement, names: string[], preferred = ''): void {
  if ([...select.options].map((o) => o.value).join('\0') === names.join('\0')) return;
  const cur = select.value || preferred;
  replace(select, ...names.map((n) => h('option', { value: n, selected: n === cur }, n)));
}

/** A datalist of suggestions for a free-text input (exchange or queue names). */
export function suggest(input: HTMLInputElement, id: string): { el: HTMLElement; set(names: string[]): void } {
  const list = h('datalist', { id });
  input.setAttribute('list', id);
  return { el: h('span', { class: 'with-list' }, input, list), set: (names) => replace(list, ...names.map((n) => h('option', { value: n }))) };
}

/** `dl.props` rows from pairs. */
export const props = (pairs: [string, unknown][]): HTMLElement[] =>
  pairs.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v instanceof Node ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v ?? '—'))]);
