/**
 * `notify: { url, secret? }` end to end on real Kafka, registry and Postgres, with a real HTTP receiver on
 * loopback (so the app allows private networks, as tests must): a failing receiver gets the same
 * `webhook-id` on every retry and a signature it can verify; a flow's final status; a cancelled task's; a
 * receiver that never answers 2xx leaves the notification in the webhook queue's DLQ.
 */
import { describe, expect, it } from 'vitest'
import { chain, createApp, isKtaskError, verifyWebhook, type App, type AppOptions, type Task, type WebhookPayload } from 'ktask'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { startHttpService } from '../../helpers/http-service.ts'
import { answer, receiver } from '../../helpers/webhook-receiver.ts'
import { uniqueName } from '../../helpers/infra.ts'
import { readTopic } from '../../helpers/topics.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const SECRET = 'whsec_' + Buffer.from('the receiver and ktask share this').toString('base64')

/** A receiver answering the n-th request with statuses[n] (the last one repeats); bodies as text. */
async function statusReceiver(...statuses: number[]) {
  const r = await receiver(...statuses.map((status) => answer(status)))
  return {
    url: r.url,
    get received() {
      return r.received.map((m) => ({ headers: m.headers, body: m.body.toString('utf8') }))
    },
  }
}

const schema = { type: 'record', name: 'Job', namespace: 'ktask.test.notify', fields: [{ name: 'n', type: 'int' }] }

function notifyApp(prefix: string, webhooks: AppOptions['webhooks']): { app: App; job: Task<{ n: number }> } {
  const app = createApp({
    prefix,
    logLevel: 'silent',
    queues: { jobs: { partitions: 2 } },
    webhooks,
    worker: { statsIntervalMs: 60_000 },
  })
  registerCleanup(() => app.close())
  const job = app.task<{ n: number }>({
    name: 'job',
    queue: 'jobs',
    schema,
    retry: { attempts: 1 },
    handler: (args) => {
      if (args.n < 0) throw new Error(`job ${args.n} fails (fixture)`)
      return { doubled: args.n * 2 }
    },
  })
  return { app, job }
}

const fast = { allowPrivateNetworks: true, attempts: 4, backoff: { type: 'fixed' as const, delayMs: 200, jitter: false }, timeoutMs: 2000 }

describe('webhooks (notify)', () => {
  it('a receiver failing twice gets the third delivery, verifies its signature and sees one webhook-id across the three', async () => {
    const hook = await statusReceiver(500, 503, 200)
    const prefix = uniqueName('notify')
    const { app, job } = notifyApp(prefix, fast)
    const { taskId } = await job.enqueue({ n: 21 }, { notify: { url: hook.url, secret: SECRET } })
    await app.worker().start()
    await waitFor(() => hook.received.length >= 3, { timeoutMs: 60_000, message: 'three deliveries' })
    await sleep(1500) // a fourth must not come
    expect(hook.received).toHaveLength(3)
    const ids = new Set(hook.received.map((r) => r.headers['webhook-id']))
    expect(ids.size).toBe(1)
    const third = hook.received[2]!
    expect(verifyWebhook(SECRET, third.headers, third.body)).toMatchObject({ id: [...ids][0] })
    const payload = JSON.parse(third.body) as WebhookPayload
    expect(payload).toMatchObject({
      type: 'task.succeeded',
      timestamp: expect.any(String),
      data: { taskId, task: 'job', state: 'SUCCEEDED', result: { doubled: 42 } },
    })
    // The secret never travels through Kafka: the delivery message carries the owner id only.
    const deliveries = await readTopic(`${prefix}.ktask-webhooks`)
    expect(deliveries).toHaveLength(1)
    const raw = deliveries.map((m) => `${m.value?.toString('latin1') ?? ''} ${JSON.stringify(m.headers)}`).join()
    expect(raw).toContain(taskId)
    expect(raw).not.toContain(SECRET.slice('whsec_'.length))
  })

  it("a flow's final status, a dead task's and a cancelled one's each reach their receiver; a receiver that never answers 2xx ends in the webhook DLQ", async () => {
    const prefix = uniqueName('notify-flow')
    const ok = await statusReceiver(200)
    const down = await statusReceiver(500)
    const { app, job } = notifyApp(prefix, fast)
    const { workflowId } = await app.enqueueFlow(chain(job.step({ n: 1 }), job.step({ n: 2 })), { notify: { url: ok.url } })
    const dead = await job.enqueue({ n: -1 }, { notify: { url: ok.url, secret: SECRET } })
    const later = await job.enqueue({ n: 3 }, { delayMs: 60_000, notify: { url: ok.url } })
    await job.enqueue({ n: 4 }, { notify: { url: down.url } })
    expect(await app.cancel(later.taskId)).toBe(true)
    await app.worker().start()
    await waitFor(() => ok.received.length >= 3, { timeoutMs: 60_000, message: 'three notifications' })
    await waitFor(() => down.received.length >= 4, { timeoutMs: 60_000, message: 'four attempts at the down receiver' })
    const dlq = `${prefix}.ktask-webhooks.dlq`
    await waitFor(async () => (await readTopic(dlq)).length >= 1, { timeoutMs: 30_000, message: 'the notification dead-lettered' })
    await sleep(1000)
    const payloads = ok.received.map((r) => JSON.parse(r.body) as WebhookPayload)
    expect(payloads.map((p) => p.type).sort()).toEqual(['flow.succeeded', 'task.cancelled', 'task.dead'])
    const flow = payloads.find((p) => p.type === 'flow.succeeded')!
    expect(flow.data).toMatchObject({ workflowId, state: 'SUCCEEDED' })
    expect((flow.data.steps as { result: unknown }[]).map((s) => s.result)).toEqual([{ doubled: 2 }, { doubled: 4 }])
    expect(payloads.find((p) => p.type === 'task.dead')!.data).toMatchObject({
      taskId: dead.taskId,
      state: 'DEAD',
      error: { message: 'job -1 fails (fixture)' },
    })
    expect(payloads.find((p) => p.type === 'task.cancelled')!.data).toEqual({ taskId: later.taskId, state: 'CANCELLED' })
    expect(new Set(down.received.map((r) => r.headers['webhook-id'])).size).toBe(1)
    const [dead1] = await readTopic(dlq)
    expect(dead1!.headers['ktask-task']).toBe('ktask.webhook')
  })

  it('refuses notify without the webhooks option, a private target unless allowed, and a malformed secret, naming the field', async () => {
    const refused = async (p: Promise<unknown>) => {
      try {
        await p
      } catch (err) {
        if (isKtaskError(err)) return { code: err.code, field: err.field }
        throw err
      }
      throw new Error('not refused')
    }
    const off = notifyApp(uniqueName('notify-off'), undefined)
    expect(await refused(off.job.enqueue({ n: 1 }, { notify: { url: 'https://example.com/hook' } }))).toEqual({
      code: 'KTASK_INVALID_CONFIG',
      field: 'webhooks',
    })
    const strict = notifyApp(uniqueName('notify-strict'), {})
    expect(await refused(strict.job.enqueue({ n: 1 }, { notify: { url: 'http://127.0.0.1:9/hook' } }))).toEqual({
      code: 'KTASK_VALIDATION',
      field: 'notify.url',
    })
    expect(await refused(strict.job.enqueue({ n: 1 }, { notify: { url: 'http://localhost/hook' } }))).toEqual({
      code: 'KTASK_VALIDATION',
      field: 'notify.url',
    })
    expect(
      await refused(strict.app.enqueueFlow(strict.job.step({ n: 1 }), { notify: { url: 'https://example.com', secret: 'whsec_!!' } })),
    ).toEqual({
      code: 'KTASK_VALIDATION',
      field: 'notify.secret',
    })
  })

  it('POST /v1/tasks/:name takes the webhook in Ktask-Notify-Url / -Secret headers; a bad one is a 400 naming the header', async () => {
    const hook = await statusReceiver(200)
    const svc = await startHttpService({ app: { webhooks: fast } })
    const post = (headers: Record<string, string>) =>
      fetch(`${svc.address}/v1/tasks/report.build`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ customer: 'c-1', months: 3 }),
      })
    const accepted = await post({ 'ktask-notify-url': hook.url, 'ktask-notify-secret': SECRET })
    expect(accepted.status).toBe(202)
    const { taskId } = (await accepted.json()) as { taskId: string }
    const bad = await post({ 'ktask-notify-url': hook.url, 'ktask-notify-secret': 'whsec_!!' })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ field: 'Ktask-Notify-Secret' })
    const orphan = await post({ 'ktask-notify-secret': SECRET })
    expect(orphan.status).toBe(400)
    expect(await orphan.json()).toMatchObject({ field: 'Ktask-Notify-Url' })
    await svc.app.worker().start()
    await waitFor(() => hook.received.length >= 1, { timeoutMs: 60_000, message: 'the webhook' })
    const [got] = hook.received
    verifyWebhook(SECRET, got!.headers, got!.body)
    expect(JSON.parse(got!.body)).toMatchObject({ type: 'task.succeeded', data: { taskId, state: 'SUCCEEDED' } })

    const off = await startHttpService()
    const refused = await fetch(`${off.address}/v1/tasks/report.build`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'ktask-notify-url': 'https://example.com/hook' },
      body: JSON.stringify({ customer: 'c-1', months: 3 }),
    })
    expect(refused.status).toBe(400)
    expect(await refused.json()).toMatchObject({ field: 'Ktask-Notify-Url' })
  })
})
