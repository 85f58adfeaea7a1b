/**
 * Webhooks (`notify: { url, secret? }`): where a task's or flow's final status goes is stored in
 * ktask.notify_targets when it is enqueued — the secret stays in Postgres, never in a Kafka message — and
 * when the task or flow becomes final a delivery task is enqueued through the outbox in that same
 * transaction. The delivery task (queue `webhooks.queue`) POSTs the status signed per Standard Webhooks;
 * its queue's retries and DLQ do the rest, with the same `webhook-id` on every attempt.
 */
import type { NotifyTarget } from '../config/definitions.ts'
import type { ResolvedAppConfig } from '../config/resolve.ts'
import { KtaskError, UnrecoverableError, readableThrown } from '../errors.ts'
import { derivedId } from '../producer/ids.ts'
import { H, intHeader } from '../retry/headers.ts'
import type { AppRuntime } from '../runtime/app-runtime.ts'
import { flowJson, getFlow } from '../store/flow-status.ts'
import type { FlowState } from '../store/flows.ts'
import { saveTargets, targetOf } from '../store/notify-targets.ts'
import type { Queryable } from '../store/queryable.ts'
import { deliverWebhook, isRetryableWebhookFailure } from '../webhooks/deliver.ts'
import { webhookKey } from '../webhooks/signature.ts'
import { checkWebhookUrl } from '../webhooks/target-guard.ts'
import type { ExecutionHooks } from '../worker/execution.ts'
import type { TaskInternals } from './task-handle.ts'
import { inTransaction } from './transactions.ts'

/** The delivery task's name (on queue `webhooks.queue`). */
export const WEBHOOK_TASK = 'ktask.webhook'

/** The delivery task's args: the payload is JSON text, the target is looked up by owner when sending. */
export interface WebhookArgs {
  ownerId: string
  webhookId: string
  payload: string
}

export const WEBHOOK_ARGS_SCHEMA = {
  type: 'record',
  name: 'WebhookDelivery',
  namespace: 'ktask.internal',
  fields: [
    { name: 'ownerId', type: 'string' },
    { name: 'webhookId', type: 'string' },
    { name: 'payload', type: 'string' },
  ],
}

/** What a receiver gets: Standard Webhooks' `{ type, timestamp, data }`. */
export interface WebhookPayload {
  type: 'task.succeeded' | 'task.dead' | 'task.cancelled' | 'flow.succeeded' | 'flow.failed' | 'flow.cancelled'
  timestamp: string
  data: Record<string, unknown>
}

export interface Notifier {
  /** Checks a `notify` option before anything is written (KTASK_INVALID_CONFIG without `webhooks`). */
  check(target: unknown, field: string): NotifyTarget
  save(db: Queryable, ownerId: string, target: NotifyTarget): Promise<void>
  saveMany(db: Queryable, targets: { ownerId: string; target: NotifyTarget }[]): Promise<void>
  flowFinished(db: Queryable, workflowId: string, state: FlowState): Promise<void>
  /** app.cancel cancelled a task: tell its target, if it has one. */
  taskCancelled(taskId: string): Promise<void>
  /** The hooks that notify when a task enqueued with `notify` ends (SUCCEEDED, or dead-lettered). */
  hooks(): ExecutionHooks
  /** The delivery task's handler. */
  deliver(args: WebhookArgs, signal: AbortSignal): Promise<void>
}

export interface NotifierDeps {
  config: ResolvedAppConfig
  runtime: AppRuntime
  /** The delivery task (undefined while webhooks are off). */
  delivery(): TaskInternals | undefined
}

export function createNotifier(deps: NotifierDeps): Notifier {
  const settings = deps.config.webhooks
  const scope = deps.config.prefix

  const enqueueDelivery = async (db: Queryable, ownerId: string, event: string, payload: WebhookPayload): Promise<void> => {
    const delivery = deps.delivery()
    if (!delivery) return
    // One id per notification: the delivery task's id (a re-run enqueues nothing new) and the webhook-id.
    const webhookId = derivedId('webhook', ownerId, event)
    const args: WebhookArgs = { ownerId, webhookId, payload: JSON.stringify(payload) }
    await delivery.writeInTransaction(db, args, { key: ownerId }, webhookId, `webhook for ${ownerId}`)
  }

  const hasTarget = async (db: Queryable, ownerId: string): Promise<boolean> => (await targetOf(db, ownerId)) !== undefined

  const taskPayload = (type: WebhookPayload['type'], data: Record<string, unknown>): WebhookPayload => ({
    type,
    timestamp: new Date().toISOString(),
    data,
  })

  return {
    check(target, field) {
      if (!settings) {
        throw new KtaskError('KTASK_INVALID_CONFIG', `${field} needs the app's webhooks option (createApp({ webhooks: {} }))`, {
          field: 'webhooks',
        })
      }
      if (!deps.runtime.hasDatabase) {
        throw new KtaskError('KTASK_INVALID_CONFIG', `${field} needs a database (targets live in ktask.notify_targets)`, {
          field: 'database',
        })
      }
      if (typeof target !== 'object' || target === null) {
        throw new KtaskError('KTASK_VALIDATION', `${field} must be { url, secret? }`, { field })
      }
      const { url, secret } = target as { url?: unknown; secret?: unknown }
      try {
        checkWebhookUrl(url as string, { allowPrivateNetworks: settings.allowPrivateNetworks })
        if (secret !== undefined) {
          if (typeof secret !== 'string')
            throw new KtaskError('KTASK_VALIDATION', 'The webhook secret must be a string', { field: 'notify.secret' })
          webhookKey(secret)
        }
      } catch (err) {
        if (err instanceof KtaskError && err.field?.startsWith('notify.')) Object.assign(err, { field: `${field}${err.field.slice(6)}` })
        throw err
      }
      return { url: url as string, ...(secret === undefined ? {} : { secret: secret }) }
    },
    save(db, ownerId, target) {
      return this.saveMany(db, [{ ownerId, target }])
    },
    saveMany(db, targets) {
      return saveTargets(
        db,
        scope,
        targets.map((t) => ({ ownerId: t.ownerId, ...t.target })),
      )
    },
    async flowFinished(db, workflowId, state) {
      if (!(await hasTarget(db, workflowId))) return
      const flow = await getFlow(db, scope, workflowId)
      if (!flow) return
      const type = state === 'SUCCEEDED' ? 'flow.succeeded' : state === 'FAILED' ? 'flow.failed' : 'flow.cancelled'
      // A flow can end more than once (FAILED, then SUCCEEDED after a redrive): each ending is its own notification.
      await enqueueDelivery(db, workflowId, `${type}@${flow.finishedAt?.toISOString() ?? ''}`, {
        type,
        timestamp: new Date().toISOString(),
        data: flowJson(flow),
      })
    },
    async taskCancelled(taskId) {
      if (!settings) return
      const pool = deps.runtime.pool()
      if (!(await hasTarget(pool, taskId))) return
      await inTransaction(pool, (db) =>
        enqueueDelivery(db, taskId, 'task.cancelled', taskPayload('task.cancelled', { taskId, state: 'CANCELLED' })),
      )
    },
    hooks() {
      const redrives = (headers: Readonly<Record<string, string>>): number => {
        const n = intHeader(headers, H.redriveCount)
        return n === undefined || Number.isNaN(n) ? 0 : n
      }
      return {
        succeeded(db, item, result) {
          if (item.envelope.headers[H.notify] !== '1') return
          const taskId = item.prepared.messageId
          return enqueueDelivery(
            db,
            taskId,
            `task.succeeded:${redrives(item.envelope.headers)}`,
            taskPayload('task.succeeded', {
              taskId,
              task: item.prepared.spec.name,
              state: 'SUCCEEDED',
              attempts: item.envelope.attempt,
              result: result === undefined ? null : result,
            }),
          )
        },
        async routed(message, decision) {
          if (decision.kind !== 'dead' || message.envelope.headers[H.notify] !== '1') return
          const e = readableThrown(message.error)
          const error = {
            class: e instanceof Error ? e.name : typeof e,
            message: e instanceof Error ? e.message : String(e),
            stage: message.stage,
          }
          await inTransaction(deps.runtime.pool(), (db) =>
            enqueueDelivery(
              db,
              message.messageId,
              `task.dead:${redrives(message.envelope.headers)}`,
              taskPayload('task.dead', {
                taskId: message.messageId,
                task: message.spec?.name ?? message.envelope.headers[H.task] ?? null,
                state: 'DEAD',
                attempts: message.envelope.attempt,
                error,
              }),
            ),
          )
        },
      }
    },
    async deliver(args, signal) {
      if (!settings) throw new UnrecoverableError('webhooks are off in this app (the webhooks option)')
      const target = await targetOf(deps.runtime.pool(), args.ownerId)
      if (!target) throw new UnrecoverableError(`no webhook target for ${args.ownerId} (pruned?)`)
      await deliverWebhook({
        url: target.url,
        ...(target.secret === null ? {} : { secret: target.secret }),
        id: args.webhookId,
        payload: JSON.parse(args.payload) as unknown,
        timeoutMs: settings.timeoutMs,
        allowPrivateNetworks: settings.allowPrivateNetworks,
        signal,
      })
    },
  }
}

export { isRetryableWebhookFailure }
