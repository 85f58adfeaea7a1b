/**
 * The worker in-process: enqueue → handle → commit, on a real broker, registry and Postgres.
 */
import { describe, expect, it } from 'vitest'
import { buildRecordingApp, recordTableSql } from '../fixtures/recording-app.ts'
import { registerCleanup } from '../helpers/cleanup.ts'
import { testAdmin, testPool, uniqueName } from '../helpers/infra.ts'
import { waitFor } from '../helpers/wait.ts'

async function committedOffsets(groupId: string, topic: string) {
  const admin = await testAdmin()
  const [res] = await admin.fetchOffsets({ groupId, topics: [topic] })
  const ends = await admin.fetchTopicOffsets(topic)
  return { committed: res!.partitions.map((p) => ({ partition: p.partition, offset: Number(p.offset) })), ends }
}

describe('worker', () => {
  it('handles every enqueued task once and commits offsets to the end of each partition', async () => {
    const pool = testPool()
    const table = uniqueName('handled').replaceAll('-', '_')
    await pool.query(recordTableSql(table))
    const prefix = uniqueName('basic')
    const { app, record } = buildRecordingApp({ prefix, table, partitions: 3 })
    registerCleanup(() => app.close())

    const { taskIds } = await record.enqueueMany(Array.from({ length: 300 }, (_, n) => ({ args: { n, key: `k${n % 7}`, seq: n } })))
    const worker = app.worker({ concurrency: 4 })
    await worker.start()
    await waitFor(async () => (await pool.query(`SELECT count(*)::int AS c FROM ${table}`)).rows[0].c === 300, { message: '300 rows' })
    const { rows } = await pool.query(`SELECT count(DISTINCT task_id)::int AS c FROM ${table}`)
    expect(rows[0].c).toBe(300)
    expect(new Set(taskIds).size).toBe(300)

    await waitFor(
      async () => {
        const { committed, ends } = await committedOffsets(`${prefix}.work`, `${prefix}.work`)
        return ends.every((e) => committed.find((c) => c.partition === e.partition)?.offset === Number(e.high))
      },
      { message: 'offsets committed to the end' },
    )
    expect(worker.stats().succeeded).toBe(300)
    await worker.stop()
  })
})
