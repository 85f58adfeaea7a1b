/**
 * What a batch handler said about each of its items (pure): the items it passed to `ctx.fail`, and the
 * map it may return, merged into one verdict per item, in item order. A failure wins over a result (a
 * handler that failed an item and also returned a result for it meant the failure: its ledger row must
 * not commit). A returned value that is not such a map, or names an item that is not in the batch, is a
 * mistake of the handler: it fails the whole batch, never part of it silently.
 */
import type { BatchItem } from '../config/definitions.ts'
import { KtaskError } from '../errors.ts'

export type ItemVerdict = { ok: true; result: unknown } | { ok: false; error: unknown }

/** Collects `ctx.fail` calls while the handler runs; refuses items of another batch. */
export class FailMarks {
  readonly #items: ReadonlySet<BatchItem>
  readonly #failed = new Map<BatchItem, unknown>()
  #open = true

  constructor(items: readonly BatchItem[]) {
    this.#items = new Set(items)
  }

  mark(item: BatchItem, error: unknown): void {
    if (!this.#open) throw new KtaskError('KTASK_STATE', 'ctx.fail was called after the batch handler finished')
    if (!this.#items.has(item)) {
      throw new KtaskError('KTASK_VALIDATION', 'ctx.fail(item): item is not one of this batch (pass the item object it was given)', {
        field: 'item',
      })
    }
    // The first reason given is kept: it is the one the handler met first.
    if (!this.#failed.has(item)) this.#failed.set(item, error)
  }

  /** No more marks: the handler finished (or was given up on). */
  close(): ReadonlyMap<BatchItem, unknown> {
    this.#open = false
    return this.#failed
  }
}

function isMap(value: unknown): value is ReadonlyMap<unknown, unknown> {
  return value instanceof Map
}

/** The returned map's entries, keyed by batch index (a key is an item of the batch or its task id). */
function returnedByIndex(items: readonly BatchItem[], returned: unknown): Map<number, unknown> {
  const byIndex = new Map<number, unknown>()
  if (returned === undefined || returned === null) return byIndex
  if (!isMap(returned)) {
    throw new KtaskError(
      'KTASK_VALIDATION',
      'a batch handler must return nothing or a Map of item (or task id) to { result } or { error }',
      {
        field: 'batchHandler',
      },
    )
  }
  const indexOfItem = new Map<BatchItem, number>(items.map((item, i) => [item, i]))
  const indexOfId = new Map<string, number>(items.map((item, i) => [item.taskId, i]))
  for (const [key, value] of returned) {
    const index = typeof key === 'string' ? indexOfId.get(key) : indexOfItem.get(key as BatchItem)
    if (index === undefined) {
      const name = typeof key === 'string' ? `task id ${JSON.stringify(key)}` : 'an item object'
      throw new KtaskError('KTASK_VALIDATION', `a batch handler returned an outcome for ${name} that is not in its batch`, {
        field: 'batchHandler',
      })
    }
    if (value === null || typeof value !== 'object' || !('result' in value || 'error' in value)) {
      throw new KtaskError(
        'KTASK_VALIDATION',
        `a batch handler returned an outcome for item ${index} that is neither { result } nor { error }`,
        {
          field: 'batchHandler',
        },
      )
    }
    byIndex.set(index, value)
  }
  return byIndex
}

/**
 * One verdict per item. Throws KTASK_VALIDATION when the returned value is malformed (the caller fails
 * the whole batch with it).
 */
export function batchVerdicts(items: readonly BatchItem[], failed: ReadonlyMap<BatchItem, unknown>, returned: unknown): ItemVerdict[] {
  const byIndex = returnedByIndex(items, returned)
  return items.map((item, i): ItemVerdict => {
    if (failed.has(item)) return { ok: false, error: failed.get(item) }
    const given = byIndex.get(i) as { result?: unknown; error?: unknown } | undefined
    if (given && 'error' in given) return { ok: false, error: given.error }
    return { ok: true, result: given?.result }
  })
}
