/**
 * Seen in `npm start`: two workers' coalesced task-state batches met handler transactions writing the same
 * rows, Postgres broke the deadlock by failing the batch, and the writer logged a warning with the whole
 * error and its stack over the progress display — for a batch it retries anyway. A lock conflict is logged
 * at debug; any other failure (Postgres down) still warns once.
 */
import { Writable } from 'node:stream'
import pino from 'pino'
import type pg from 'pg'
import { describe, expect, it } from 'vitest'
import { TaskStateWriter } from '../../../src/store/task-state-writer.ts'

function failingWriter(code: string): { writer: TaskStateWriter; levels: number[] } {
  const levels: number[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      levels.push((JSON.parse(chunk.toString('utf8')) as { level: number }).level)
      done()
    },
  })
  const pool = { query: () => Promise.reject(Object.assign(new Error('statement failed'), { code })) } as unknown as pg.Pool
  return { writer: new TaskStateWriter(() => pool, pino({ level: 'debug' }, sink), 60_000), levels }
}

const update = { taskId: 't1', name: 'n', queue: 'q', state: 'STARTED', attempt: 1, redrives: 0 } as const

describe('task state writer: failed batches', () => {
  it.each(['40P01', '55P03', '40001'])('a lock conflict (%s) is retried without a warning', async (code) => {
    const { writer, levels } = failingWriter(code)
    writer.state(update)
    await writer.flush()
    await writer.close()
    expect(levels.length).toBeGreaterThan(0)
    expect(levels.filter((l) => l >= 40)).toEqual([])
  })

  it('any other failure warns once', async () => {
    const { writer, levels } = failingWriter('57P01') // admin_shutdown: Postgres going away
    writer.state(update)
    await writer.flush()
    await writer.close()
    expect(levels[0]).toBe(40)
  })
})
