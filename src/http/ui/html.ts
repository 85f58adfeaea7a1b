/**
 * HTML from tagged templates: every interpolated value is escaped unless it is already Html (a fragment
 * built the same way), so a task name, an error message or a header from a dead-lettered message can
 * never inject markup into the dashboard.
 */

export class Html {
  readonly value: string
  constructor(value: string) {
    this.value = value
  }
  toString(): string {
    return this.value
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value
  if (Array.isArray(value)) return value.map(render).join('')
  if (value === null || value === undefined || value === false) return ''
  if (value instanceof Date) return escapeHtml(value.toISOString())
  if (typeof value === 'string') return escapeHtml(value)
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return escapeHtml(value.toString())
  return escapeHtml(json(value))
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!
  return new Html(out)
}

/** A JSON value for a data- attribute or a <pre>: escaped by html`` like any string. */
export function json(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), indent) ?? 'null'
}

/** A date as operators read it: UTC, to the second; an em dash for none. */
export function when(date: Date | string | null | undefined): Html {
  if (date === null || date === undefined) return html`<span class="muted">—</span>`
  const d = typeof date === 'string' ? new Date(date) : date
  const text = d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' UTC')
  return html`<time datetime="${d.toISOString()}">${text}</time>`
}

/** A query string from the values that are set. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v))
  const s = q.toString()
  return s ? `?${s}` : ''
}

/** A state as a badge whose colour says final-good, final-bad, waiting or running (text says it too). */
export function badge(state: string): Html {
  const tone = ['SUCCEEDED', 'Stable', 'ACTIVE'].includes(state)
    ? 'ok'
    : ['DEAD', 'FAILED', 'CANCELLED'].includes(state)
      ? 'bad'
      : ['STARTED', 'RUNNING', 'RETRYING'].includes(state)
        ? 'run'
        : 'wait'
  return html`<span class="badge ${tone}" data-state="${state}">${state}</span>`
}
