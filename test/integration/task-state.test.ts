/**
 * Task state in Postgres: writes from several processes may arrive late or out of order; a task never
 * moves backwards, SUCCEEDED is final, and a DLQ redrive starts a new round.
 */
import { describe, expect, it } from 'vitest'
import { createApp, UnrecoverableError } from 'ktask'
import { migrate } from '../../src/store/migrate.ts'
import { applyStates, getTask, insertPending, markSucceeded, type TaskStateUpdate } from '../../src/store/task-store.ts'
import { registerCleanup } from '../helpers/cleanup.ts'
import { testPool, uniqueName } from '../helpers/infra.ts'
import { CLI, spawnNode } from '../helpers/processes.ts'
import { waitFor } from '../helpers/wait.ts'

describe('task state', () => {
  it('ignores stale writes, keeps SUCCEEDED final, and lets a redrive start over', async () => {
    const pool = testPool()
    await migrate(pool)
    const id = uniqueName('task')
    const base = { taskId: id, name: 't', queue: 'q', redrives: 0 }
    const update = (u: Partial<TaskStateUpdate>): TaskStateUpdate => ({ ...base, state: 'STARTED', attempt: 1, ...u })
    await insertPending(pool, [id], 't', 'q')
    expect((await getTask(pool, id))!.state).toBe('PENDING')
    await applyStates(pool, [update({ state: 'RETRYING', attempt: 1 })])
    await applyStates(pool, [update({ state: 'STARTED', attempt: 1 })]) // late: older than RETRYING of attempt 1
    expect((await getTask(pool, id))!).toMatchObject({ state: 'RETRYING', attempts: 1 })
    await applyStates(pool, [update({ state: 'STARTED', attempt: 2 })])
    expect((await getTask(pool, id))!).toMatchObject({ state: 'STARTED', attempts: 2 })
    await applyStates(pool, [update({ state: 'DEAD', attempt: 2, error: { class: 'E', message: 'm', stage: 'handler', attempt: 2 } })])
    expect((await getTask(pool, id))!).toMatchObject({ state: 'DEAD', error: { class: 'E' } })
    // A redrive (redrives = 1) starts a new round at attempt 1.
    await applyStates(pool, [update({ state: 'STARTED', attempt: 1, redrives: 1 })])
    expect((await getTask(pool, id))!).toMatchObject({ state: 'STARTED', attempts: 1 })
    const client = await pool.connect()
    await markSucceeded(client, { ...base, attempt: 1, redrives: 1, resultJson: '{"ok":true}' })
    client.release()
    await applyStates(pool, [update({ state: 'RETRYING', attempt: 5, redrives: 3 })])
    expect((await getTask(pool, id))!).toMatchObject({ state: 'SUCCEEDED', result: { ok: true }, progress: 1 })
  })

  it('shows RETRYING between attempts and FAILED for an unrecoverable error; `ktask status` prints it', async () => {
    const app = createApp({ prefix: uniqueName('states'), logLevel: 'silent', queues: { q: { partitions: 1 } } })
    registerCleanup(() => app.close())
    const seen: string[] = []
    const task = app.task<{ fail: string }>({
      name: 'picky',
      queue: 'q',
      track: true,
      schema: { type: 'record', name: 'Picky', fields: [{ name: 'fail', type: 'string' }] },
      retry: { attempts: 3, backoff: { type: 'fixed', delayMs: 1500 } },
      handler: async (args, ctx) => {
        if (args.fail === 'unrecoverable') throw new UnrecoverableError('not today')
        if (ctx.attempt === 1) throw new Error('try again')
        return { attempt: ctx.attempt }
      },
    })
    await app.worker().start()
    const { taskId: retried } = await task.enqueue({ fail: 'once' })
    const { taskId: failed } = await task.enqueue({ fail: 'unrecoverable' })
    await waitFor(
      async () => {
        const s = await app.status(retried)
        if (s && !seen.includes(s.state)) seen.push(s.state)
        return s?.state === 'SUCCEEDED'
      },
      { intervalMs: 50, message: 'SUCCEEDED after a retry' },
    )
    expect(seen).toContain('RETRYING')
    expect(await app.status(retried)).toMatchObject({ attempts: 2, result: { attempt: 2 }, error: null })
    await waitFor(async () => (await app.status(failed))?.state === 'FAILED', { message: 'FAILED' })
    expect((await app.status(failed))!.error).toMatchObject({ class: 'UnrecoverableError', message: 'not today', attempt: 1 })

    const cli = spawnNode([CLI, 'status', retried])
    expect((await cli.exited).code).toBe(0)
    expect(cli.lines.join('\n')).toMatch(/SUCCEEDED 100% \(attempt 2\)/)
    // A FAILED or DEAD task exits 2, with --json too (scripts can tell without parsing).
    const cliFailed = spawnNode([CLI, 'status', failed, '--json'])
    expect((await cliFailed.exited).code).toBe(2)
    expect(JSON.parse(cliFailed.lines.join('\n'))).toMatchObject({ state: 'FAILED', taskId: failed })
  })
})
