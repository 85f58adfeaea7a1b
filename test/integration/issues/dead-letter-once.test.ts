/**
 * Regression: a message could be dead-lettered twice.
 *
 * A worker SIGKILLed between the DLQ's acknowledgement and its offset commit (or a Postgres blip after
 * the acknowledgement, which paused and retried the routing) left the message to be handled again, and
 * the second pass put a second copy in the DLQ — two records, each redrivable. Now each dead-letter hop
 * is recorded in Postgres (pending before the produce, done after the ack) and checked before producing:
 * a done record skips the produce; a pending one looks for the copy in the DLQ partition first.
 */
import { describe, expect, it } from 'vitest'
import { buildDeadLetterApp } from '../../fixtures/dead-letter-app.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { testPool, testProducer, uniqueName } from '../../helpers/infra.ts'
import { startWorkerProcess } from '../../helpers/processes.ts'
import { readTopic, topicCount } from '../../helpers/topics.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

const FIXTURE = 'test/fixtures/dead-letter-app.ts'

describe('one DLQ record per message', () => {
  it('a worker SIGKILLed after dead-lettering 20 tasks, before committing: the next worker adds no second copy', async () => {
    const prefix = uniqueName('dead-once')
    const { app, doomed } = buildDeadLetterApp(prefix, 'silent')
    registerCleanup(() => app.close())
    await app.provision()
    const { taskIds } = await doomed.enqueueMany(Array.from({ length: 20 }, (_, n) => ({ args: { n } })))
    const first = await startWorkerProcess(FIXTURE, [], { env: { KTASK_PREFIX: prefix } })
    await waitFor(async () => (await topicCount(`${prefix}.doomed.dlq`)) === 20, { timeoutMs: 60_000, message: '20 in the DLQ' })
    first.kill('SIGKILL')
    await first.exited
    const second = await startWorkerProcess(FIXTURE, [], { env: { KTASK_PREFIX: prefix } })
    // The second worker handles the 20 again (their offsets were never committed) ...
    await second.waitForLine(/message dead-lettered|already dead-lettered/, 60_000)
    await sleep(3000)
    second.kill('SIGTERM')
    expect((await second.exited).code).toBe(0)
    // ... and the DLQ still holds each task once.
    const dlq = await readTopic(`${prefix}.doomed.dlq`)
    expect(dlq.map((m) => m.headers['ktask-id']).sort()).toEqual([...taskIds].sort())
  })

  it('a dead-letter hop recorded as pending whose copy is already in the DLQ is not produced again', async () => {
    const prefix = uniqueName('dead-pending')
    const { app, doomed } = buildDeadLetterApp(prefix, 'silent')
    registerCleanup(() => app.close())
    await app.provision()
    const { taskId } = await doomed.enqueue({ n: 7 }, { key: 'k' })
    const group = `${prefix}.doomed`
    // What a worker leaves behind when it dies after the DLQ's ack, before marking the hop done.
    await app.migrate()
    const pool = testPool()
    await pool.query(
      `INSERT INTO ktask.dead_letters (group_id, message_id, redrives, dlq_topic, dlq_offsets, state)
      VALUES ($1, $2, 0, $3, '{}'::jsonb, 'pending')`,
      [group, taskId, `${group}.dlq`],
    )
    const producer = await testProducer()
    await producer.send({
      topic: `${group}.dlq`,
      messages: [{ key: 'k', value: Buffer.from('copy'), headers: { 'ktask-id': taskId, 'ktask-group': group } }],
    })
    const worker = app.worker()
    await worker.start()
    await waitFor(() => worker.stats().deadLettered === 1, { timeoutMs: 30_000, message: 'the task handled' })
    await sleep(500)
    expect(await topicCount(`${group}.dlq`)).toBe(1)
    const { rows } = await pool.query('SELECT state FROM ktask.dead_letters WHERE group_id = $1 AND message_id = $2', [group, taskId])
    expect(rows).toEqual([{ state: 'done' }])
  })
})
