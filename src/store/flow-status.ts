/**
 * A flow as `app.flowStatus`, `GET /v1/flows/:id`, `ktask flow` and flow webhooks show it, and the pruning
 * of finished flows.
 */
import type pg from 'pg'
import type { FlowFailurePolicy, FlowState, FlowStepRole, FlowStepState } from './flows.ts'
import { deleteInBatches } from './prune-batches.ts'
import type { Queryable } from './queryable.ts'

/** A flow and its steps, as `app.flowStatus` shows them. */
export interface FlowStatus {
  workflowId: string
  state: FlowState
  /** What a failed step does to the flow (`enqueueFlow`'s `failurePolicy`). */
  failurePolicy: FlowFailurePolicy
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
  /** 'step', or the flow's callback it is ('onSuccess', 'onFailure'). */
  role: FlowStepRole
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
  // One statement, one snapshot: a step's transaction changes its steps and its flow's state together.
  const { rows: all } = await db.query<{
    flow_state: FlowState
    on_failure: FlowFailurePolicy
    created_at: Date
    finished_at: Date | null
    step: number | null
    path: string
    task: string
    task_id: string
    role: FlowStepRole
    state: FlowStepState
    waiting_for: number
    dependants: number[]
    result: unknown
    error: unknown
    attempts: number | null
    updated_at: Date
  }>(
    `SELECT f.state AS flow_state, f.on_failure, f.created_at, f.finished_at,
            s.step, s.spec->>'path' AS path, s.task, s.task_id, s.role, s.state, s.waiting_for, s.dependants, s.result, s.error,
            t.attempts, s.updated_at
       FROM ktask.flows f
       LEFT JOIN ktask.flow_steps s ON s.workflow_id = f.workflow_id
       LEFT JOIN ktask.tasks t ON t.task_id = s.task_id
      WHERE f.workflow_id = $1 AND f.scope = $2 ORDER BY s.step`,
    [workflowId, scope],
  )
  const f = all[0]
  if (!f) return null
  const rows = all.filter((r) => r.step !== null) as ((typeof all)[number] & { step: number })[]
  return {
    workflowId,
    state: f.flow_state,
    failurePolicy: f.on_failure,
    createdAt: f.created_at,
    finishedAt: f.finished_at,
    steps: rows.map((r) => ({
      step: r.step,
      path: r.path,
      task: r.task,
      taskId: r.task_id,
      role: r.role,
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

/** A FlowStatus as the HTTP routes, `ktask flow --json` and flow webhooks send it: dates as ISO strings. */
export function flowJson(f: FlowStatus): Record<string, unknown> {
  return {
    ...f,
    createdAt: f.createdAt.toISOString(),
    finishedAt: f.finishedAt?.toISOString() ?? null,
    steps: f.steps.map((s) => ({ ...s, updatedAt: s.updatedAt.toISOString() })),
  }
}

/**
 * Finished flows older than `retentionDays` (their steps go with them). A failed flow can be resumed by a
 * redrive until then.
 */
export function pruneFlows(pool: pg.Pool, retentionDays: number, batchSize = 2000): Promise<number> {
  return deleteInBatches(
    pool,
    `DELETE FROM ktask.flows WHERE workflow_id IN (
       SELECT workflow_id FROM ktask.flows WHERE state <> 'RUNNING' AND finished_at < $1 LIMIT $2)`,
    new Date(Date.now() - retentionDays * 86_400_000),
    batchSize,
  )
}
