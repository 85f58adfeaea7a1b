/**
 * The durable graph of a flow (ktask.flows, ktask.flow_steps). Everything here runs in the caller's
 * transaction: a flow is written with its first steps' outbox rows, and a step's completion is recorded
 * with the handler's effects and ledger row — so the dependants it advances are advanced exactly once.
 *
 * The join: each dependant row counts the steps it still waits for. A finishing step decrements its
 * dependants' counters under their row locks (READ COMMITTED re-reads a row a concurrent sibling just
 * changed), so of ten siblings finishing at once on ten workers, exactly one sees a counter reach 0 and
 * gets the step to publish. No polling, no counter outside the transaction.
 */
import type { FlowGraph, Input } from '../flows/graph.ts'
import { assembleInput } from '../flows/graph.ts'
import type { Queryable } from './queryable.ts'

export type FlowFailurePolicy = 'failFast' | 'continue'
export type FlowState = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED'
export type FlowStepState = 'WAITING' | 'PENDING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED'
/** 'step': part of the canvas; the callbacks run when the flow ends and are not counted in its state. */
export type FlowStepRole = 'step' | 'onSuccess' | 'onFailure'

/** True for a state a flow ends in (it may still leave FAILED when a redriven step succeeds). */
export function isFinalFlowState(state: FlowState): boolean {
  return state !== 'RUNNING'
}

export interface StepSpec {
  path: string
  args?: unknown
  argsFromPrevious: boolean
  options: Record<string, unknown>
}

/** A callback step (`onSuccess`, `onFailure`): published when the flow becomes SUCCEEDED / FAILED. */
export interface NewCallback {
  role: 'onSuccess' | 'onFailure'
  index: number
  task: string
  taskId: string
  spec: StepSpec
  /** onSuccess: the flow's result (what its last part returned). onFailure: null (it gets the failures). */
  input: Input | null
}

export interface NewFlow {
  workflowId: string
  scope: string
  onFailure: FlowFailurePolicy
  graph: FlowGraph
  /** The task id of each step, by index (derived from the workflow id and the step). */
  taskIds: string[]
  callbacks?: NewCallback[]
}

/** Writes the flow and its steps; its first steps are PENDING (the caller writes their outbox rows). */
export async function insertFlow(db: Queryable, flow: NewFlow): Promise<void> {
  const { graph } = flow
  const dependants = graph.steps.map(() => [] as number[])
  for (const s of graph.steps) for (const d of s.waitsFor) dependants[d]!.push(s.index)
  const callbacks = flow.callbacks ?? []
  await db.query(`INSERT INTO ktask.flows (workflow_id, scope, state, on_failure, steps_left) VALUES ($1, $2, 'RUNNING', $3, $4)`, [
    flow.workflowId,
    flow.scope,
    flow.onFailure,
    graph.steps.length,
  ])
  const rows = [
    ...graph.steps.map((s) => ({
      step: s.index,
      task: s.task,
      taskId: flow.taskIds[s.index]!,
      waitingFor: s.waitsFor.length,
      dependants: dependants[s.index]!,
      input: s.input,
      spec: { path: s.path, args: s.args, argsFromPrevious: s.argsFromPrevious, options: s.options },
      role: 'step',
    })),
    ...callbacks.map((c) => ({
      step: c.index,
      task: c.task,
      taskId: c.taskId,
      waitingFor: 0,
      dependants: [],
      input: c.input,
      spec: c.spec,
      role: c.role,
    })),
  ]
  await db.query(
    `INSERT INTO ktask.flow_steps (workflow_id, step, task, task_id, state, waiting_for, dependants, input_spec, spec, role)
     SELECT $1, u.step, u.task, u.task_id, CASE WHEN u.waiting_for = 0 AND u.role = 'step' THEN 'PENDING' ELSE 'WAITING' END,
            u.waiting_for, ARRAY(SELECT jsonb_array_elements_text(u.dependants)::int), u.input_spec, u.spec, u.role
     FROM unnest($2::int[], $3::text[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[], $8::jsonb[], $9::text[])
       AS u(step, task, task_id, waiting_for, dependants, input_spec, spec, role)`,
    [
      flow.workflowId,
      rows.map((r) => r.step),
      rows.map((r) => r.task),
      rows.map((r) => r.taskId),
      rows.map((r) => r.waitingFor),
      rows.map((r) => JSON.stringify(r.dependants)),
      rows.map((r) => (r.input === null ? null : JSON.stringify(r.input))),
      rows.map((r) => JSON.stringify(r.spec)),
      rows.map((r) => r.role),
    ],
  )
}

/** A step that became due: every step it waits for has finished (or a callback, its flow). */
export interface ReadyStep {
  step: number
  task: string
  taskId: string
  /** Its `ctx.previous`: assembled from the results it waited for (onFailure: the failures). */
  input: unknown
  /** Whether that input is a list (after a group, also `ctx.results`); null for a first step. */
  inputSpec: Input | null
  spec: StepSpec
}

export interface StepFinished {
  /** False: the step was already final, or its flow is (cancelled, failed): nothing advanced. */
  applied: boolean
  /** failFast: the steps cancelled that were already published (or in the outbox): the caller stops them. */
  cancelledPublished?: { step: number; task: string; taskId: string }[]
  /**
   * A redriven step resumed its failed flow: the steps cancelled then are back, and the ledger rows that
   * kept the published ones from running must go (the caller deletes them) before they are published again.
   */
  revived?: { step: number; task: string; taskId: string }[]
  /** Dependants (and callbacks) that became due, in step order: the caller publishes them in this transaction. */
  ready: ReadyStep[]
  /** The flow's state when this step made it final. */
  flowFinished?: FlowState
}

interface LockedStep {
  state: FlowStepState
  role: FlowStepRole
  flow_state: FlowState
  /** The step's own policy, else its flow's. */
  on_failure: FlowFailurePolicy
}

/** The step's row, locked, with its flow's state: the slow path of a step's outcome. */
async function lockStep(db: Queryable, workflowId: string, step: number): Promise<LockedStep | undefined> {
  const { rows } = await db.query<LockedStep>(
    `SELECT s.state, s.role, f.state AS flow_state, COALESCE(s.spec->'options'->>'failurePolicy', f.on_failure) AS on_failure
       FROM ktask.flow_steps s JOIN ktask.flows f ON f.workflow_id = s.workflow_id
      WHERE s.workflow_id = $1 AND s.step = $2 FOR UPDATE OF s`,
    [workflowId, step],
  )
  return rows[0]
}

/** A callback's outcome: recorded, nothing else moves (the flow's state does not wait for it). */
async function finishCallback(db: Queryable, workflowId: string, step: number, outcome: { result: unknown } | { error: unknown }) {
  const ok = 'result' in outcome
  await db.query(
    `UPDATE ktask.flow_steps SET state = $3, result = $4::jsonb, error = $5::jsonb, updated_at = clock_timestamp()
      WHERE workflow_id = $1 AND step = $2`,
    [
      workflowId,
      step,
      ok ? 'SUCCEEDED' : 'FAILED',
      ok ? JSON.stringify(outcome.result ?? null) : null,
      ok ? null : JSON.stringify(outcome.error ?? null),
    ],
  )
}

/**
 * Records a step's success (`result`, stored as JSON) and advances the steps waiting for it. In the
 * transaction of the step's effects: if it rolls back, nothing here happened. A step that failed before
 * (dead-lettered, then redriven after a fix) resumes its flow: see `resume`.
 */
export async function succeedStep(db: Queryable, workflowId: string, step: number, result: unknown): Promise<StepFinished> {
  // The common case in one statement: a pending step of a running flow.
  const { rows } = await db.query<{ dependants: number[] }>(
    `UPDATE ktask.flow_steps s SET state = 'SUCCEEDED', result = $3::jsonb, updated_at = clock_timestamp()
      FROM ktask.flows f
     WHERE s.workflow_id = $1 AND s.step = $2 AND s.state = 'PENDING' AND s.role = 'step'
       AND f.workflow_id = s.workflow_id AND f.state = 'RUNNING'
     RETURNING s.dependants`,
    [workflowId, step, JSON.stringify(result ?? null)],
  )
  if (rows.length > 0) {
    const ready = await advance(db, workflowId, rows[0]!.dependants)
    const flowFinished = await countFinished(db, workflowId, 1, 0)
    if (flowFinished) ready.push(...(await callbacksOf(db, workflowId, flowFinished)))
    return { applied: true, ready, ...(flowFinished ? { flowFinished } : {}) }
  }
  const locked = await lockStep(db, workflowId, step)
  if (!locked) return { applied: false, ready: [] }
  if (locked.role !== 'step') {
    if (locked.state !== 'PENDING' && locked.state !== 'FAILED') return { applied: false, ready: [] }
    await finishCallback(db, workflowId, step, { result })
    return { applied: true, ready: [] }
  }
  if (locked.state !== 'FAILED') return { applied: false, ready: [] }
  return resume(db, workflowId, step, result, locked)
}

/**
 * Records the success of several steps of one flow at once (a chunk transaction's): one statement for the
 * pending ones, their dependants decremented by how many of them each waited for, the flow counted once.
 * The others (callbacks, a redriven failed step, a step no longer pending) go through `succeedStep`.
 * Returns one StepFinished for the lot (its `ready` in step order).
 */
export async function succeedSteps(db: Queryable, workflowId: string, steps: { step: number; result: unknown }[]): Promise<StepFinished[]> {
  if (steps.length === 1) return [await succeedStep(db, workflowId, steps[0]!.step, steps[0]!.result)]
  const sorted = [...steps].sort((a, b) => a.step - b.step)
  const { rows } = await db.query<{ step: number; dependants: number[] }>(
    `UPDATE ktask.flow_steps s SET state = 'SUCCEEDED', result = u.result, updated_at = clock_timestamp()
      FROM ktask.flows f, unnest($2::int[], $3::jsonb[]) AS u(step, result)
     WHERE s.workflow_id = $1 AND s.step = u.step AND s.state = 'PENDING' AND s.role = 'step'
       AND f.workflow_id = s.workflow_id AND f.state = 'RUNNING'
     RETURNING s.step, s.dependants`,
    [workflowId, sorted.map((s) => s.step), sorted.map((s) => JSON.stringify(s.result ?? null))],
  )
  const out: StepFinished[] = []
  if (rows.length > 0) {
    const ready = await advance(
      db,
      workflowId,
      rows.flatMap((r) => r.dependants),
    )
    const flowFinished = await countFinished(db, workflowId, rows.length, 0)
    if (flowFinished) ready.push(...(await callbacksOf(db, workflowId, flowFinished)))
    out.push({ applied: true, ready, ...(flowFinished ? { flowFinished } : {}) })
  }
  const done = new Set(rows.map((r) => r.step))
  for (const s of sorted) if (!done.has(s.step)) out.push(await succeedStep(db, workflowId, s.step, s.result))
  return out
}

/**
 * A failed step succeeded after all (redriven from the DLQ after a fix). `failFast`: the steps its failure
 * cancelled come back — waiting for what has not succeeded, or due — and the flow runs again (its
 * onSuccess runs when it ends well, even if onFailure ran before). `continue`: what waited for it already
 * went on with its error, so nothing re-runs; its result is recorded and it no longer counts as failed.
 */
async function resume(db: Queryable, workflowId: string, step: number, result: unknown, locked: LockedStep): Promise<StepFinished> {
  await db.query(
    `UPDATE ktask.flow_steps SET state = 'SUCCEEDED', result = $3::jsonb, error = NULL, updated_at = clock_timestamp()
      WHERE workflow_id = $1 AND step = $2`,
    [workflowId, step, JSON.stringify(result ?? null)],
  )
  if (locked.on_failure === 'continue') {
    await db.query(`UPDATE ktask.flows SET failed = greatest(failed - 1, 0) WHERE workflow_id = $1 AND state = 'RUNNING'`, [workflowId])
    return { applied: true, ready: [] }
  }
  // Cancelled steps never ran (a cancel and a run of one step exclude each other through its ledger row).
  const { rows: revived } = await db.query<{
    step: number
    task: string
    task_id: string
    state: FlowStepState
    input_spec: Input | null
    spec: StepSpec
  }>(
    `WITH cancelled AS (
       SELECT step FROM ktask.flow_steps WHERE workflow_id = $1 AND role = 'step' AND state = 'CANCELLED' ORDER BY step FOR UPDATE),
     counted AS (
       SELECT c.step, (SELECT count(*) FROM ktask.flow_steps p
                        WHERE p.workflow_id = $1 AND c.step = ANY(p.dependants) AND p.state <> 'SUCCEEDED')::int AS waiting
         FROM cancelled c)
     UPDATE ktask.flow_steps s SET state = CASE WHEN counted.waiting = 0 THEN 'PENDING' ELSE 'WAITING' END,
            waiting_for = counted.waiting, updated_at = clock_timestamp()
       FROM counted WHERE s.workflow_id = $1 AND s.step = counted.step
     RETURNING s.step, s.task, s.task_id, s.state, s.input_spec, s.spec`,
    [workflowId],
  )
  const due = revived.filter((r) => r.state === 'PENDING').sort((a, b) => a.step - b.step)
  const ready = await withInputs(db, workflowId, due)
  const { rows } = await db.query<{ state: FlowState }>(
    `UPDATE ktask.flows f
        SET state = CASE WHEN x.open > 0 THEN 'RUNNING' WHEN x.failed > 0 THEN 'FAILED' ELSE 'SUCCEEDED' END,
            steps_left = x.open, failed = x.failed,
            finished_at = CASE WHEN x.open > 0 THEN NULL ELSE clock_timestamp() END
       FROM (SELECT count(*) FILTER (WHERE state IN ('WAITING', 'PENDING'))::int AS open,
                    count(*) FILTER (WHERE state = 'FAILED')::int AS failed
               FROM ktask.flow_steps WHERE workflow_id = $1 AND role = 'step') x
      WHERE f.workflow_id = $1
     RETURNING f.state`,
    [workflowId],
  )
  const state = rows[0]?.state
  const flowFinished = state !== undefined && isFinalFlowState(state) ? state : undefined
  if (flowFinished) ready.push(...(await callbacksOf(db, workflowId, flowFinished)))
  return {
    applied: true,
    ready,
    revived: revived.sort((a, b) => a.step - b.step).map((r) => ({ step: r.step, task: r.task, taskId: r.task_id })),
    ...(flowFinished ? { flowFinished } : {}),
  }
}

/**
 * Records a step's final failure (dead-lettered, or refused at once). `failFast`: the steps not started
 * are CANCELLED and the flow FAILED. `continue`: what waits for the step goes on, with `{ error }` in
 * place of its result.
 */
export async function failStep(db: Queryable, workflowId: string, step: number, error: unknown): Promise<StepFinished> {
  // The step's own policy (task.step(args, { failurePolicy })) wins over the flow's.
  const { rows } = await db.query<{ dependants: number[]; on_failure: FlowFailurePolicy }>(
    `UPDATE ktask.flow_steps s SET state = 'FAILED', error = $3::jsonb, updated_at = clock_timestamp()
      FROM ktask.flows f
     WHERE s.workflow_id = $1 AND s.step = $2 AND s.state = 'PENDING' AND s.role = 'step'
       AND f.workflow_id = s.workflow_id AND f.state = 'RUNNING'
     RETURNING s.dependants, COALESCE(s.spec->'options'->>'failurePolicy', f.on_failure) AS on_failure`,
    [workflowId, step, JSON.stringify(error ?? null)],
  )
  const row = rows[0]
  if (!row) {
    const locked = await lockStep(db, workflowId, step)
    if (locked && locked.role !== 'step' && locked.state === 'PENDING') {
      await finishCallback(db, workflowId, step, { error })
      return { applied: true, ready: [] }
    }
    return { applied: false, ready: [] }
  }
  if (row.on_failure === 'continue') {
    const ready = await advance(db, workflowId, row.dependants)
    const flowFinished = await countFinished(db, workflowId, 1, 1)
    if (flowFinished) ready.push(...(await callbacksOf(db, workflowId, flowFinished)))
    return { applied: true, ready, ...(flowFinished ? { flowFinished } : {}) }
  }
  const cancelled = await db.query<{ step: number; task: string; task_id: string; was: FlowStepState }>(
    `WITH open AS (
       SELECT step, state FROM ktask.flow_steps
        WHERE workflow_id = $1 AND role = 'step' AND state IN ('WAITING', 'PENDING') ORDER BY step FOR UPDATE)
     UPDATE ktask.flow_steps s SET state = 'CANCELLED', updated_at = clock_timestamp()
       FROM open WHERE s.workflow_id = $1 AND s.step = open.step
     RETURNING s.step, s.task, s.task_id, open.state AS was`,
    [workflowId],
  )
  const flowFinished = await countFinished(db, workflowId, 1 + cancelled.rows.length, 1)
  const cancelledPublished = cancelled.rows
    .filter((r) => r.was === 'PENDING')
    .sort((a, b) => a.step - b.step)
    .map((r) => ({ step: r.step, task: r.task, taskId: r.task_id }))
  const ready = flowFinished ? await callbacksOf(db, workflowId, flowFinished) : []
  return { applied: true, ready, cancelledPublished, ...(flowFinished ? { flowFinished } : {}) }
}

/**
 * Decrements the counters of `dependants` (a step listed twice: two of the steps it waits for finished)
 * under each one's row lock; the transaction that takes a counter to 0 publishes the step.
 */
async function advance(db: Queryable, workflowId: string, dependants: number[]): Promise<ReadyStep[]> {
  if (dependants.length === 0) return []
  const counts = new Map<number, number>()
  for (const d of dependants) counts.set(d, (counts.get(d) ?? 0) + 1)
  const steps = [...counts.keys()].sort((a, b) => a - b)
  const { rows } = await db.query<{
    step: number
    task: string
    task_id: string
    due: boolean
    input_spec: Input | null
    spec: StepSpec
  }>(
    `UPDATE ktask.flow_steps s SET waiting_for = s.waiting_for - d.n, updated_at = clock_timestamp()
       FROM unnest($2::int[], $3::int[]) AS d(step, n)
      WHERE s.workflow_id = $1 AND s.step = d.step AND s.state = 'WAITING'
     RETURNING s.step, s.task, s.task_id, s.waiting_for = 0 AS due, s.input_spec, s.spec`,
    [workflowId, steps, steps.map((s) => counts.get(s)!)],
  )
  const due = rows.filter((r) => r.due).sort((a, b) => a.step - b.step)
  if (due.length === 0) return []
  await db.query(
    `UPDATE ktask.flow_steps SET state = 'PENDING', updated_at = clock_timestamp() WHERE workflow_id = $1 AND step = ANY($2::int[])`,
    [workflowId, due.map((r) => r.step)],
  )
  return withInputs(db, workflowId, due)
}

/** The due steps with their inputs, assembled from the results (or `{ error }`) of the steps they name. */
async function withInputs(
  db: Queryable,
  workflowId: string,
  due: { step: number; task: string; task_id: string; input_spec: Input | null; spec: StepSpec }[],
): Promise<ReadyStep[]> {
  const needed = new Set<number>()
  for (const r of due) if (r.input_spec) for (const s of stepsOf(r.input_spec)) needed.add(s)
  const results = new Map<number, unknown>()
  if (needed.size > 0) {
    const { rows: found } = await db.query<{ step: number; result: unknown }>(
      `SELECT step, COALESCE(result, jsonb_build_object('error', error)) AS result FROM ktask.flow_steps
        WHERE workflow_id = $1 AND step = ANY($2::int[])`,
      [workflowId, [...needed]],
    )
    for (const f of found) results.set(f.step, f.result)
  }
  return due.map((r) => ({
    step: r.step,
    task: r.task,
    taskId: r.task_id,
    input: r.input_spec ? assembleInput(r.input_spec, results) : null,
    inputSpec: r.input_spec,
    spec: r.spec,
  }))
}

/** What an onFailure callback receives as `ctx.previous` (and as its args when it takes them from there). */
export interface FlowFailure {
  workflowId: string
  failed: { step: number; path: string; task: string; taskId: string; error: unknown }[]
}

/**
 * The flow just became final: its callback for that state becomes due (once: a callback that already
 * ran is not published again), the other one is cancelled unless a later resume may still need it.
 */
async function callbacksOf(db: Queryable, workflowId: string, state: FlowState): Promise<ReadyStep[]> {
  const wanted = state === 'SUCCEEDED' ? 'onSuccess' : state === 'FAILED' ? 'onFailure' : null
  const { rows } = await db.query<{
    step: number
    task: string
    task_id: string
    role: FlowStepRole
    input_spec: Input | null
    spec: StepSpec
  }>(
    `UPDATE ktask.flow_steps SET state = CASE WHEN role = $2 THEN 'PENDING' ELSE 'CANCELLED' END, updated_at = clock_timestamp()
      WHERE workflow_id = $1 AND role <> 'step' AND (state = 'WAITING' OR (state = 'CANCELLED' AND role = $2))
     RETURNING step, task, task_id, role, input_spec, spec`,
    [workflowId, wanted],
  )
  const due = rows.filter((r) => r.role === wanted)
  if (due.length === 0) return []
  if (wanted === 'onSuccess') return withInputs(db, workflowId, due)
  const { rows: failed } = await db.query<{ step: number; path: string; task: string; task_id: string; error: unknown }>(
    `SELECT step, spec->>'path' AS path, task, task_id, error FROM ktask.flow_steps
      WHERE workflow_id = $1 AND role = 'step' AND state = 'FAILED' ORDER BY step`,
    [workflowId],
  )
  const failure: FlowFailure = {
    workflowId,
    failed: failed.map((f) => ({ step: f.step, path: f.path, task: f.task, taskId: f.task_id, error: f.error })),
  }
  return due.map((r) => ({ step: r.step, task: r.task, taskId: r.task_id, input: failure, inputSpec: null, spec: r.spec }))
}

function stepsOf(input: Input): number[] {
  return 'step' in input ? [input.step] : input.list.flatMap(stepsOf)
}

/** Counts `finished` more steps of the flow (`failed` of them failed); returns its final state when it ends. */
async function countFinished(db: Queryable, workflowId: string, finished: number, failed: number): Promise<FlowState | undefined> {
  const { rows } = await db.query<{ state: FlowState; steps_left: number }>(
    `UPDATE ktask.flows SET steps_left = steps_left - $2, failed = failed + $3,
            state = CASE WHEN steps_left - $2 > 0 THEN state WHEN failed + $3 > 0 THEN 'FAILED' ELSE 'SUCCEEDED' END,
            finished_at = CASE WHEN steps_left - $2 > 0 THEN NULL ELSE clock_timestamp() END
      WHERE workflow_id = $1 RETURNING state, steps_left`,
    [workflowId, finished, failed],
  )
  const row = rows[0]
  return row && row.steps_left <= 0 ? row.state : undefined
}
