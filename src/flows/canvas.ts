/**
 * The canvas: chain, group and chord of task steps (Celery's names). Data only, no functions: a flow is
 * stored in Postgres when it is enqueued and advanced by whichever worker finishes a step, so everything
 * in it must survive any process. `task.step(args)` makes a step (see task-handle.ts); these combine them.
 */
import { KtaskError } from '../errors.ts'

/** Options of one step. */
export interface StepOptions {
  /** Kafka key of the step's task (per-key order, blocked-key retries). @defaultValue none */
  key?: string
  /**
   * What this step's failure does, overriding the flow's `failurePolicy`: `continue` for a step whose
   * failure the rest can live with (its dependants get `{ error }`), `failFast` for one they cannot.
   * @defaultValue the flow's
   */
  failurePolicy?: 'failFast' | 'continue'
}

/** One task run: fixed args, or (`argsFromPrevious`) the previous step's result as its args. */
export interface StepSignature {
  readonly kind: 'step'
  /** The task's name. */
  readonly task: string
  readonly args?: unknown
  readonly argsFromPrevious: boolean
  readonly options: StepOptions
}

/** Each item after the one before it; an item sees the previous one's result (`ctx.previous`). */
export interface ChainSignature {
  readonly kind: 'chain'
  readonly items: readonly Signature[]
}

/** Items in parallel; what follows a group waits for all of them and gets their results in order. */
export interface GroupSignature {
  readonly kind: 'group'
  readonly items: readonly Signature[]
}

/** A group, then a callback that receives the group's results in the order given (`ctx.results`). */
export interface ChordSignature {
  readonly kind: 'chord'
  readonly header: readonly Signature[]
  readonly callback: Signature
}

export type Signature = StepSignature | ChainSignature | GroupSignature | ChordSignature

const KINDS: ReadonlySet<string> = new Set(['step', 'chain', 'group', 'chord'])

function checkItems(items: unknown, what: string, field: string): readonly Signature[] {
  if (!Array.isArray(items)) {
    throw new KtaskError('KTASK_VALIDATION', `${what}: expected an array of steps (task.step(), chain(), group() or chord())`, {
      field,
    })
  }
  items.forEach((item, i) => checkSignature(item, `${what}: item ${i}`, `${field}[${i}]`))
  return Object.freeze([...(items as Signature[])])
}

function checkSignature(value: unknown, what: string, field: string): void {
  const kind = (value as { kind?: unknown } | null)?.kind
  if (typeof kind !== 'string' || !KINDS.has(kind)) {
    throw new KtaskError('KTASK_VALIDATION', `${what} is not a step: use task.step(), chain(), group() or chord()`, { field })
  }
}

/** `chain(a, b, c)`: a, then b with a's result as `ctx.previous`, then c. */
export function chain(...items: Signature[]): ChainSignature {
  return Object.freeze({ kind: 'chain', items: checkItems(items, 'chain()', 'chain') })
}

/** `group([a, b, c])`: a, b and c in parallel. */
export function group(items: Signature[]): GroupSignature {
  return Object.freeze({ kind: 'group', items: checkItems(items, 'group()', 'group') })
}

/** `chord([a, b, c], callback)`: a, b and c in parallel, then callback with their results, in that order. */
export function chord(header: Signature[], callback: Signature): ChordSignature {
  checkSignature(callback, 'chord(): the callback', 'chord.callback')
  return Object.freeze({ kind: 'chord', header: checkItems(header, 'chord()', 'chord.header'), callback })
}

/** A step of `task` (what `task.step()` returns). */
export function stepOf(task: string, args: { given: true; value: unknown } | { given: false }, options: StepOptions = {}): StepSignature {
  const policy = options.failurePolicy
  if (policy !== undefined && policy !== 'failFast' && policy !== 'continue') {
    throw new KtaskError('KTASK_VALIDATION', `${task}.step(): failurePolicy must be 'failFast' or 'continue'`, { field: 'failurePolicy' })
  }
  return Object.freeze({
    kind: 'step',
    task,
    ...(args.given ? { args: args.value } : {}),
    argsFromPrevious: !args.given,
    options: Object.freeze({ ...options }),
  })
}
