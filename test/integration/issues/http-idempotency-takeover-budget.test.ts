/**
 * Defect (Hardening #13, part): a POST with an Idempotency-Key claims the key (pending) before producing;
 * another request may take a pending claim over once it is IDEMPOTENCY_STALE_MS (120 s) old, assuming
 * its request died. But an enqueue may legitimately take longer than that — kafkajs retries a produce
 * five times with a 30 s request timeout by default — so a slow first request that was still alive lost
 * its key and the same key produced a second task. The takeover must wait longer than an enqueue's own
 * budget (derived from the app's settings); a claim older than that is still taken over.
 */
import { describe, expect, it } from 'vitest'
import { bodyHash } from '../../../src/http/idempotency.ts'
import { startHttpService } from '../../helpers/http-service.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'
import { topicCount } from '../../helpers/topics.ts'

const body = { customer: 'acme', months: 3 }

/** A pending claim as a request leaves it while it is producing (or after it died), `ageSeconds` old. */
async function pendingClaim(key: string, ageSeconds: number): Promise<string> {
  const taskId = uniqueName('claimed')
  await testPool().query(
    `INSERT INTO ktask.idempotency_keys (idempotency_key, task_name, task_id, body_sha256, state, created_at)
     VALUES ($1, 'report.build', $2, $3, 'pending', now() - make_interval(secs => $4))`,
    [key, taskId, bodyHash(body), ageSeconds],
  )
  return taskId
}

async function service() {
  const s = await startHttpService({ http: { idempotencyWaitMs: 300 } })
  await s.app.migrate()
  const post = (key: string) =>
    fetch(`${s.address}/v1/tasks/report.build`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    })
  return { ...s, post }
}

describe('Idempotency-Key takeover', () => {
  it('a claim 125 s old (within the enqueue budget: its request may still be producing) is not taken over', async () => {
    const { post, prefix } = await service()
    const key = uniqueName('idem')
    const holder = await pendingClaim(key, 125)
    const res = await post(key)
    expect(res.status).toBe(409)
    expect(res.headers.get('retry-after')).not.toBeNull()
    expect(await topicCount(`${prefix}.reports`)).toBe(0)
    const { rows } = await testPool().query('SELECT task_id, state FROM ktask.idempotency_keys WHERE idempotency_key = $1', [key])
    expect(rows).toEqual([{ task_id: holder, state: 'pending' }])
  })

  it('a claim older than any enqueue can take (a day) belongs to a dead request and is taken over', async () => {
    const { post, prefix } = await service()
    const key = uniqueName('idem')
    const holder = await pendingClaim(key, 86_400)
    const res = await post(key)
    expect(res.status).toBe(202)
    const { taskId } = (await res.json()) as { taskId: string }
    expect(taskId).not.toBe(holder)
    expect(await topicCount(`${prefix}.reports`)).toBe(1)
  })
})
