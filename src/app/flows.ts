/**
 * Flows: `app.enqueueFlow(canvas)` writes the graph and its first steps in one transaction; the worker's
 * hooks record each step's outcome in the step's own transaction and publish the steps that became due
 * through the outbox there too (store/flows.ts has the join). Every step is an ordinary task of its queue,
 * with its own retry policy, marked by the flow headers (retry/headers.ts H.flow*).
 */
import pg from 'pg'
import type { FlowOptions, FlowResult, FollowUpOptions, NotifyTarget } from '../config/definitions.ts'
import { KtaskError, isKtaskError, readableThrown } from '../errors.ts'
import type { Signature, StepSignature } from '../flows/canvas.ts'
import { compileFlow, type FlowGraph, type GraphStep } from '../flows/graph.ts'
import { derivedId, newTaskId } from '../producer/ids.ts'
import { H } from '../retry/headers.ts'
import type { AppRuntime } from '../runtime/app-runtime.ts'
import { queueTopic } from '../topology/names.ts'
import {
  failStep,
  insertFlow,
  succeedStep,
  succeedSteps,
  type FlowState,
  type NewCallback,
  type ReadyStep,
  type StepFinished,
} from '../store/flows.ts'
import { deleteLedgerRow, insertLedgerRow } from '../store/inbox.ts'
import type { Queryable } from '../store/queryable.ts'
import type { ExecutionHooks } from '../worker/execution.ts'
import type { TaskInternals } from './task-handle.ts'
import { inTransaction } from './transactions.ts'

export interface FlowDeps {
  runtime: AppRuntime
  /** The app's prefix: flows of deployments sharing a database stay apart. */
  scope: string
  /** The internals of the app's task of that name. */
  task(name: string): TaskInternals | undefined
  notify: FlowNotify
}

/** Webhooks of flows (app/notify.ts). */
export interface FlowNotify {
  /** Checks a `notify` option (URL, secret) before anything is written; throws KTASK_VALIDATION naming `field`. */
  check(target: unknown, field: string): NotifyTarget
  /** Stores where the owner's final status goes, in `db`. */
  save(db: Queryable, ownerId: string, target: NotifyTarget): Promise<void>
  /** The flow became final: enqueue its webhook (if it has a target), in `db`. */
  flowFinished(db: Queryable, workflowId: string, state: FlowState): Promise<void>
}

function flowHeaders(workflowId: string, step: number, input: { v: unknown; list: boolean } | null): Record<string, string> {
  return {
    [H.flow]: workflowId,
    [H.flowStep]: String(step),
    ...(input === null ? {} : { [H.flowInput]: JSON.stringify(input) }),
  }
}

function stepTask(deps: FlowDeps, step: Pick<GraphStep, 'task' | 'path'>): TaskInternals {
  const task = deps.task(step.task)
  if (!task) {
    throw new KtaskError('KTASK_VALIDATION', `Flow: ${step.path} is a step of unknown task "${step.task}"`, { field: step.path })
  }
  return task
}

async function validateStep(deps: FlowDeps, step: Pick<GraphStep, 'task' | 'path' | 'args' | 'argsFromPrevious'>): Promise<void> {
  const task = stepTask(deps, step)
  if (step.argsFromPrevious) return
  try {
    await task.validateArgs(step.args, `Flow: ${step.path} (task "${step.task}")`)
  } catch (err) {
    if (isKtaskError(err, 'KTASK_VALIDATION')) Object.assign(err, { field: `${step.path}.args${err.field ? `.${err.field}` : ''}` })
    throw err
  }
}

/** onSuccess / onFailure: one `task.step()`, validated like the flow's steps, appended after them. */
function callbacksOf(flow: FlowOptions, graph: FlowGraph, workflowId: string): NewCallback[] {
  const out: NewCallback[] = []
  for (const role of ['onSuccess', 'onFailure'] as const) {
    const sig = flow[role] as unknown
    if (sig === undefined) continue
    if (typeof sig === 'string') {
      throw new KtaskError(
        'KTASK_VALIDATION',
        `enqueueFlow: ${role} is a callback step (task.step()); the failure policy is failurePolicy: '${sig}'`,
        { field: role },
      )
    }
    if (typeof sig !== 'object' || sig === null || (sig as { kind?: unknown }).kind !== 'step') {
      throw new KtaskError('KTASK_VALIDATION', `enqueueFlow: ${role} must be one task.step(), not a chain, group or chord`, { field: role })
    }
    const step = sig as StepSignature
    const index = graph.steps.length + out.length
    out.push({
      role,
      index,
      task: step.task,
      taskId: derivedId('flow', workflowId, String(index)),
      spec: {
        path: role,
        ...(step.argsFromPrevious ? {} : { args: step.args }),
        argsFromPrevious: step.argsFromPrevious,
        options: { ...step.options, ...(step.options.key === undefined && flow.key !== undefined ? { key: flow.key } : {}) },
      },
      input: role === 'onSuccess' ? graph.result : null,
    })
  }
  return out
}

/** The flow's `key` becomes the key of every step without one (stored with the step, used when it is due). */
function withDefaultKey(graph: FlowGraph, key: string | undefined): FlowGraph {
  if (key === undefined) return graph
  return { ...graph, steps: graph.steps.map((s) => (s.options.key === undefined ? { ...s, options: { ...s.options, key } } : s)) }
}

/** Validates every step (task known, fixed args valid), then writes the flow and its first steps. */
export async function enqueueFlow(
  deps: FlowDeps,
  flow: Signature,
  options: FlowOptions = {},
  internal: { workflowId?: string } = {},
): Promise<FlowResult> {
  const { runtime } = deps
  runtime.assertOpen()
  if (!runtime.hasDatabase) {
    throw new KtaskError('KTASK_INVALID_CONFIG', 'enqueueFlow needs a database (a flow lives in ktask.flows), but the app has none', {
      field: 'database',
    })
  }
  const failurePolicy = options.failurePolicy ?? 'failFast'
  if (failurePolicy !== 'failFast' && failurePolicy !== 'continue') {
    throw new KtaskError('KTASK_VALIDATION', `enqueueFlow: failurePolicy must be 'failFast' or 'continue'`, { field: 'failurePolicy' })
  }
  if (options.key !== undefined && (typeof options.key !== 'string' || options.key.length === 0)) {
    throw new KtaskError('KTASK_VALIDATION', 'enqueueFlow: key must be a non-empty string', { field: 'key' })
  }
  const graph = withDefaultKey(compileFlow(flow), options.key)
  const workflowId = internal.workflowId ?? newTaskId()
  const callbacks = callbacksOf(options, graph, workflowId)
  for (const step of graph.steps) await validateStep(deps, step)
  for (const c of callbacks)
    await validateStep(deps, { task: c.task, path: c.spec.path, args: c.spec.args, argsFromPrevious: c.spec.argsFromPrevious })
  const notify = options.notify === undefined ? undefined : deps.notify.check(options.notify, 'notify')
  const taskIds = graph.steps.map((s) => derivedId('flow', workflowId, String(s.index)))
  const write = async (db: Queryable): Promise<void> => {
    await insertFlow(db, { workflowId, scope: deps.scope, onFailure: failurePolicy, graph, taskIds, callbacks })
    if (notify) await deps.notify.save(db, workflowId, notify)
    // The first steps, one statement per task (a chord of a hundred is one insert).
    const first = graph.steps.filter((s) => s.waitsFor.length === 0)
    for (const task of new Set(first.map((s) => s.task))) {
      await stepTask(deps, { task, path: '' }).writeManyInTransaction(
        db,
        first
          .filter((s) => s.task === task)
          .map((step) => ({
            args: step.args,
            options: {
              ...(step.options.key === undefined ? {} : { key: step.options.key }),
              headers: flowHeaders(workflowId, step.index, null),
            },
            taskId: taskIds[step.index]!,
            what: `Flow: ${step.path} (task "${step.task}")`,
          })),
      )
    }
  }
  await runtime.ensureMigrated()
  if (options.tx !== undefined) {
    if (options.tx === null || typeof options.tx.query !== 'function') {
      throw new KtaskError('KTASK_VALIDATION', 'enqueueFlow: tx must be a node-postgres client (in your transaction)', { field: 'tx' })
    }
    await write(options.tx)
  } else {
    await inTransaction(runtime.pool(), write)
  }
  return { workflowId }
}

/**
 * Publishes the steps that became due, in `db` (the finishing step's transaction). A step whose args come
 * from its input and do not fit its task's schema fails at once, naming the field, and the failure policy
 * applies to it like to any failed step.
 */
async function publishReady(deps: FlowDeps, db: Queryable, workflowId: string, ready: ReadyStep[]): Promise<void> {
  // Many due at once (a group after a step): one statement per task; a refused one falls back to one by one.
  for (const task of new Set(ready.map((r) => r.task))) {
    const mine = ready.filter((r) => r.task === task)
    if (mine.length > 1) {
      try {
        await stepTask(deps, { task, path: mine[0]!.spec.path }).writeManyInTransaction(
          db,
          mine.map((r) => stepWrite(workflowId, r)),
        )
        continue
      } catch (err) {
        if (!isKtaskError(err, 'KTASK_VALIDATION')) throw err
      }
    }
    for (const r of mine) {
      try {
        const w = stepWrite(workflowId, r)
        await stepTask(deps, { task: r.task, path: r.spec.path }).writeInTransaction(db, w.args, w.options, w.taskId, w.what)
      } catch (err) {
        // Refused before anything was written (validation, unknown task after a deploy): the step fails.
        if (!isKtaskError(err, 'KTASK_VALIDATION')) throw err
        const failed = await failStep(db, workflowId, r.step, { class: 'KtaskError', message: err.message, field: err.field ?? null })
        await applyOutcome(deps, db, workflowId, failed)
      }
    }
  }
}

/** How a due step is written: its args (fixed, or its input), key and flow headers. */
function stepWrite(workflowId: string, r: ReadyStep): { args: unknown; options: FollowUpOptions; taskId: string; what: string } {
  // A first step has no input; an onFailure callback gets the failures (not built from a spec).
  const input = r.inputSpec === null && r.input === null ? null : { v: r.input, list: r.inputSpec !== null && 'list' in r.inputSpec }
  const key = r.spec.options.key
  return {
    args: r.spec.argsFromPrevious ? r.input : r.spec.args,
    options: { ...(typeof key === 'string' ? { key } : {}), headers: flowHeaders(workflowId, r.step, input) },
    taskId: r.taskId,
    what: `Flow: ${r.spec.path} (task "${r.task}")`,
  }
}

/** What a recorded outcome asks for, in the same transaction: stop, revive and publish steps; notify. */
async function applyOutcome(deps: FlowDeps, db: Queryable, workflowId: string, done: StepFinished): Promise<void> {
  await stopPublished(deps, db, done.cancelledPublished ?? [])
  await revive(deps, db, done.revived ?? [])
  await publishReady(deps, db, workflowId, done.ready)
  if (done.flowFinished) await deps.notify.flowFinished(db, workflowId, done.flowFinished)
}

/** The ledger row (group of the step's queue) that keeps a published step from running, or undefined. */
function ledgerGroup(deps: FlowDeps, task: string): string | undefined {
  const queue = deps.task(task)?.spec.queue
  return queue === undefined || queue === null ? undefined : queueTopic(deps.scope, queue)
}

/**
 * Steps a failFast failure cancelled after they were published: an outbox row not yet published is
 * deleted; one on its queue gets its ledger row now, so the worker that reaches it skips it (as
 * app.cancel does). One that already ran keeps its ledger row (ON CONFLICT): its result is not used.
 */
async function stopPublished(deps: FlowDeps, db: Queryable, steps: { task: string; taskId: string }[]): Promise<void> {
  for (const s of steps) {
    await db.query('DELETE FROM ktask.outbox WHERE message_id = $1', [s.taskId])
    const group = ledgerGroup(deps, s.task)
    if (group === undefined) continue
    await insertLedgerRow(db, [group], s.taskId)
  }
}

/** Cancelled steps that a resumed flow needs again: the ledger rows that stopped them go (they never ran). */
async function revive(deps: FlowDeps, db: Queryable, steps: { task: string; taskId: string }[]): Promise<void> {
  for (const s of steps) {
    const group = ledgerGroup(deps, s.task)
    if (group !== undefined) await deleteLedgerRow(db, group, s.taskId)
  }
}

/** What a flow step's outcome does to its flow, as worker hooks. */
export function flowHooks(deps: FlowDeps): ExecutionHooks {
  const stepOf = (headers: Readonly<Record<string, string>>): { workflowId: string; step: number } | undefined => {
    const workflowId = headers[H.flow]
    const step = Number(headers[H.flowStep])
    return workflowId && Number.isInteger(step) ? { workflowId, step } : undefined
  }
  // Without a transaction of its own (transaction: false), the step's outcome gets one here.
  const atomically = (db: Queryable, fn: (db: Queryable) => Promise<void>): Promise<void> =>
    db instanceof pg.Pool ? inTransaction(db, fn) : fn(db)
  return {
    // Not async: a task outside a flow (most of them) gets no promise (see combineHooks).
    succeeded(db, item, result, inChunk) {
      const at = stepOf(item.envelope.headers)
      // In a chunk transaction, beforeCommit advances the flows of all its steps at once.
      if (!at || inChunk) return
      return atomically(db, async (tx) => {
        await applyOutcome(deps, tx, at.workflowId, await succeedStep(tx, at.workflowId, at.step, result === undefined ? null : result))
      })
    },
    async beforeCommit(db, succeeded) {
      // By workflow id, then step: every transaction takes the rows of the flows it advances in this
      // order, so two transactions holding steps of the same flows wait for each other, never deadlock.
      const byFlow = new Map<string, { step: number; result: unknown }[]>()
      for (const { item, result } of succeeded) {
        const at = stepOf(item.envelope.headers)
        if (!at) continue
        const list = byFlow.get(at.workflowId) ?? []
        list.push({ step: at.step, result: result === undefined ? null : result })
        byFlow.set(at.workflowId, list)
      }
      for (const workflowId of [...byFlow.keys()].sort()) {
        for (const done of await succeedSteps(db, workflowId, byFlow.get(workflowId)!)) await applyOutcome(deps, db, workflowId, done)
      }
    },
    async routed(message, decision) {
      if (decision.kind !== 'dead') return
      const at = stepOf(message.envelope.headers)
      if (!at) return
      const e = readableThrown(message.error)
      const error = {
        class: e instanceof Error ? e.name : typeof e,
        message: e instanceof Error ? e.message : String(e),
        stage: message.stage,
      }
      await inTransaction(deps.runtime.pool(), async (tx) => {
        await applyOutcome(deps, tx, at.workflowId, await failStep(tx, at.workflowId, at.step, error))
      })
    },
  }
}

/** Both sets of hooks, in order (task tracking first: a step's state is written before its flow moves). */
export function combineHooks(...all: (ExecutionHooks | undefined)[]): ExecutionHooks {
  const hooks = all.filter((h): h is ExecutionHooks => h !== undefined)
  return {
    started: (item) => hooks.forEach((h) => h.started?.(item)),
    progress: (item, fraction, message) => hooks.forEach((h) => h.progress?.(item, fraction, message)),
    // Runs for every message that succeeds: a promise only once a hook returns one.
    succeeded(db, item, result, inChunk) {
      const from = (i: number): Promise<void> | void => {
        for (; i < hooks.length; i++) {
          const pending = hooks[i]!.succeeded?.(db, item, result, inChunk)
          if (pending) return pending.then(() => from(i + 1))
        }
      }
      return from(0)
    },
    async beforeCommit(db, succeeded) {
      for (const h of hooks) await h.beforeCommit?.(db, succeeded)
    },
    async routed(message, decision) {
      for (const h of hooks) await h.routed?.(message, decision)
    },
  }
}
