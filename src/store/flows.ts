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

export interface NewFlow {
  workflowId: string
  scope: string
  onFailure: FlowFailurePolicy
  graph: FlowGraph
  /** The task id of each step, by index (derived from the workflow id and the step). */
  taskIds: string[]
}

/** Writes the flow and its steps; its first steps are PENDING (the caller writes their outbox rows). */
export async function insertFlow(db: Queryable, flow: NewFlow): Promise<void> {
  const { graph } = flow
  const dependants = graph.steps.map(() => [] as number[])
  for (const s of graph.steps) for (const d of s.waitsFor) dependants[d]!.push(s.index)
  await db.query(`INSERT INTO ktask.flows (workflow_id, scope, state, on_failure, steps_left) VALUES ($1, $2, 'RUNNING', $3, $4)`, [
    flow.workflowId,
    flow.scope,
    flow.onFailure,
    graph.steps.length,
  ])
  await db.query(
    `INSERT INTO ktask.flow_steps (workflow_id, step, task, task_id, state, waiting_for, dependants, input_spec, spec)
     SELECT $1, u.step, u.task, u.task_id, CASE WHEN u.waiting_for = 0 THEN 'PENDING' ELSE 'WAITING' END, u.waiting_for,
            ARRAY(SELECT jsonb_array_elements_text(u.dependants)::int), u.input_spec, u.spec
     FROM unnest($2::int[], $3::text[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[], $8::jsonb[])
       AS u(step, task, task_id, waiting_for, dependants, input_spec, spec)`,
    [
      flow.workflowId,
      graph.steps.map((s) => s.index),
      graph.steps.map((s) => s.task),
      flow.taskIds,
      graph.steps.map((s) => s.waitsFor.length),
      dependants.map((d) => JSON.stringify(d)),
      graph.steps.map((s) => (s.input === null ? null : JSON.stringify(s.input))),
      graph.steps.map((s) => JSON.stringify({ path: s.path, args: s.args, argsFromPrevious: s.argsFromPrevious, options: s.options })),
    ],
  )
}

/** A step that became due: every step it waits for has finished. */
export interface ReadyStep {
  step: number
  task: string
  taskId: string
  /** Its `ctx.previous`: assembled from the results it waited for. */
  input: unknown
  /** How that input was assembled (a list: after a group); null for a first step. */
  inputSpec: Input | null
  spec: { path: string; args?: unknown; argsFromPrevious: boolean; options: Record<string, unknown> }
}

export interface StepFinished {
  /** False: the step was already final, or its flow is (cancelled, failed): nothing advanced. */
  applied: boolean
  /** failFast: the steps cancelled that were already published (or in the outbox): the caller stops them. */
  cancelledPublished?: { step: number; task: string; taskId: string }[]
  /** Dependants that became due, in step order: the caller publishes them (outbox) in this transaction. */
  ready: ReadyStep[]
  /** The flow's state when this step made it final. */
  flowFinished?: FlowState
}

/**
 * Records a step's success (`result`, stored as JSON) and advances the steps waiting for it. In the
 * transaction of the step's effects: if it rolls back, nothing here happened.
 */
export async function succeedStep(db: Queryable, workflowId: string, step: number, result: unknown): Promise<StepFinished> {
  const { rows } = await db.query<{ dependants: number[] }>(
    `UPDATE ktask.flow_steps s SET state = 'SUCCEEDED', result = $3::jsonb, updated_at = clock_timestamp()
      FROM ktask.flows f
     WHERE s.workflow_id = $1 AND s.step = $2 AND s.state = 'PENDING'
       AND f.workflow_id = s.workflow_id AND f.state = 'RUNNING'
     RETURNING s.dependants`,
    [workflowId, step, JSON.stringify(result ?? null)],
  )
  if (rows.length === 0) return { applied: false, ready: [] }
  const ready = await advance(db, workflowId, rows[0]!.dependants)
  const flowFinished = await countFinished(db, workflowId, 1, 0)
  return { applied: true, ready, ...(flowFinished ? { flowFinished } : {}) }
}

/**
 * Records a step's final failure (dead-lettered, or refused at once). `failFast`: the steps not started
 * are CANCELLED and the flow FAILED. `continue`: what waits for the step goes on, with `{ error }` in
 * place of its result.
 */
export async function failStep(db: Queryable, workflowId: string, step: number, error: unknown): Promise<StepFinished> {
  const { rows } = await db.query<{ dependants: number[]; on_failure: FlowFailurePolicy }>(
    `UPDATE ktask.flow_steps s SET state = 'FAILED', error = $3::jsonb, updated_at = clock_timestamp()
      FROM ktask.flows f
     WHERE s.workflow_id = $1 AND s.step = $2 AND s.state = 'PENDING'
       AND f.workflow_id = s.workflow_id AND f.state = 'RUNNING'
     RETURNING s.dependants, f.on_failure`,
    [workflowId, step, JSON.stringify(error ?? null)],
  )
  const row = rows[0]
  if (!row) return { applied: false, ready: [] }
  if (row.on_failure === 'continue') {
    const ready = await advance(db, workflowId, row.dependants)
    const flowFinished = await countFinished(db, workflowId, 1, 1)
    return { applied: true, ready, ...(flowFinished ? { flowFinished } : {}) }
  }
  const cancelled = await db.query<{ step: number; task: string; task_id: string; was: FlowStepState }>(
    `WITH open AS (
       SELECT step, state FROM ktask.flow_steps WHERE workflow_id = $1 AND state IN ('WAITING', 'PENDING') ORDER BY step FOR UPDATE)
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
  return { applied: true, ready: [], cancelledPublished, ...(flowFinished ? { flowFinished } : {}) }
}

async function advance(db: Queryable, workflowId: string, dependants: number[]): Promise<ReadyStep[]> {
  if (dependants.length === 0) return []
  // Decrement under each dependant's row lock; the one that takes a counter to 0 publishes the step.
  const { rows } = await db.query<{
    step: number
    task: string
    task_id: string
    due: boolean
    input_spec: Input | null
    spec: ReadyStep['spec']
  }>(
    `UPDATE ktask.flow_steps SET waiting_for = waiting_for - 1, updated_at = clock_timestamp()
      WHERE workflow_id = $1 AND step = ANY($2::int[]) AND state = 'WAITING'
     RETURNING step, task, task_id, waiting_for = 0 AS due, input_spec, spec`,
    [workflowId, dependants],
  )
  const due = rows.filter((r) => r.due).sort((a, b) => a.step - b.step)
  if (due.length === 0) return []
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
  await db.query(
    `UPDATE ktask.flow_steps SET state = 'PENDING', updated_at = clock_timestamp() WHERE workflow_id = $1 AND step = ANY($2::int[])`,
    [workflowId, due.map((r) => r.step)],
  )
  return due.map((r) => ({
    step: r.step,
    task: r.task,
    taskId: r.task_id,
    input: r.input_spec ? assembleInput(r.input_spec, results) : null,
    inputSpec: r.input_spec,
    spec: r.spec,
  }))
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

/** A step's state as a worker checks it before running the step's task (a cancelled flow skips it). */
export async function flowStepState(db: Queryable, workflowId: string, step: number): Promise<FlowStepState | undefined> {
  const { rows } = await db.query<{ state: FlowStepState }>(`SELECT state FROM ktask.flow_steps WHERE workflow_id = $1 AND step = $2`, [
    workflowId,
    step,
  ])
  return rows[0]?.state
}

/** A flow and its steps, as `app.flowStatus` shows them. */
export interface FlowStatus {
  workflowId: string
  state: FlowState
  onFailure: FlowFailurePolicy
  createdAt: Date
  finishedAt: Date | null
  steps: FlowStepStatus[]
}

export interface FlowStepStatus {
  step: number
  /** Where it is in the canvas: `chain[1].header[3]`. */
  path: string
  task: string
  taskId: string
  state: FlowStepState
  /** Steps it still waits for (WAITING). */
  waitingFor: number
  /** The steps that wait for it. */
  dependants: number[]
  result: unknown
  error: unknown
  /** Attempts so far, when its task is tracked. */
  attempts: number | null
  updatedAt: Date
}

export async function getFlow(db: Queryable, scope: string, workflowId: string): Promise<FlowStatus | null> {
  const flow = await db.query<{ state: FlowState; on_failure: FlowFailurePolicy; created_at: Date; finished_at: Date | null }>(
    `SELECT state, on_failure, created_at, finished_at FROM ktask.flows WHERE workflow_id = $1 AND scope = $2`,
    [workflowId, scope],
  )
  const f = flow.rows[0]
  if (!f) return null
  const { rows } = await db.query<{
    step: number
    path: string
    task: string
    task_id: string
    state: FlowStepState
    waiting_for: number
    dependants: number[]
    result: unknown
    error: unknown
    attempts: number | null
    updated_at: Date
  }>(
    `SELECT s.step, s.spec->>'path' AS path, s.task, s.task_id, s.state, s.waiting_for, s.dependants, s.result, s.error,
            t.attempts, s.updated_at
       FROM ktask.flow_steps s LEFT JOIN ktask.tasks t ON t.task_id = s.task_id
      WHERE s.workflow_id = $1 ORDER BY s.step`,
    [workflowId],
  )
  return {
    workflowId,
    state: f.state,
    onFailure: f.on_failure,
    createdAt: f.created_at,
    finishedAt: f.finished_at,
    steps: rows.map((r) => ({
      step: r.step,
      path: r.path,
      task: r.task,
      taskId: r.task_id,
      state: r.state,
      waitingFor: r.waiting_for,
      dependants: r.dependants,
      result: r.result,
      error: r.error,
      attempts: r.attempts,
      updatedAt: r.updated_at,
    })),
  }
}
