/**
 * Isolated handlers that misbehave, on a real `ktask worker` process: an endless loop (terminated at
 * hardTimeoutMs), process.exit(1), an error thrown outside the handler's promise. Only the message at
 * fault fails — retried, then dead-lettered with stage `timeout` or `crash` — while the messages behind it
 * on the same partition run, and the worker goes on.
 */
import { describe, expect, it } from 'vitest'
import { H } from '../../../src/retry/headers.ts'
import { isolationSetup } from '../../helpers/isolation.ts'
import { readTopic, topicCount } from '../../helpers/topics.ts'
import { waitFor } from '../../helpers/wait.ts'

describe.each(['process', 'thread'] as const)('isolation %s: a bad message fails alone', (isolation) => {
  it('loop → timeout, exit and uncaught → crash, throw → handler; the messages behind them run', async () => {
    const t = await isolationSetup(`iso-crash-${isolation}`, isolation)
    const modes = ['ok', 'loop', 'ok', 'exit', 'ok', 'uncaught', 'ok', 'throw', 'follow', 'signal']
    const ids = await t.enqueue(modes.map((mode, n) => ({ n, mode })))
    const worker = await t.startWorker()

    await waitFor(async () => (await topicCount(t.dlqTopic)) >= 5, { timeoutMs: 45_000, intervalMs: 250, message: '5 dead letters' })
    await waitFor(async () => (await t.rows()).some((r) => r.n === 1008), { timeoutMs: 30_000, message: 'the follow-up ran' })

    const rows = await t.rows()
    // Each good message ran once; the one that threw after writing left nothing (its savepoint rolled back).
    expect(rows.map((r) => r.n).sort((a, b) => a - b)).toEqual([0, 2, 4, 6, 8, 1008])
    expect(rows.every((r) => r.attempt === 1)).toBe(true)

    const dlq = await readTopic(t.dlqTopic)
    const stageOf = new Map(dlq.map((m) => [m.headers[H.id], m.headers[H.failureStage]]))
    expect(stageOf).toEqual(
      new Map([
        [ids[1], 'timeout'],
        [ids[3], 'crash'],
        [ids[5], 'crash'],
        [ids[7], 'handler'],
        [ids[9], 'timeout'],
      ]),
    )
    // Retried once (attempts: 2) before the DLQ.
    expect(dlq.map((m) => m.headers[H.attempt])).toEqual(['2', '2', '2', '2', '2'])
    const exit = dlq.find((m) => m.headers[H.id] === ids[3])!
    expect(exit.headers[H.errorClass]).toBe('KtaskError')
    expect(exit.headers[H.errorMessage]).toMatch(isolation === 'process' ? /exited with code 1/ : /exited with code 1/)
    const uncaught = dlq.find((m) => m.headers[H.id] === ids[5])!
    expect(uncaught.headers[H.errorMessage]).toMatch(/thrown outside the handler promise/)
    const loop = dlq.find((m) => m.headers[H.id] === ids[1])!
    expect(loop.headers[H.errorMessage]).toMatch(/timeoutMs/)

    // ctx.signal aborted in the child at timeoutMs; ctx.log lines come out of the worker with its bindings.
    const logs = worker.json()
    expect(logs.filter((l) => l.msg === 'isolated handler saw its signal abort' && l.taskId === ids[9])).toHaveLength(2)
    expect(logs.find((l) => l.msg === 'isolated handler saw its signal abort')).toMatchObject({
      reason: 'Handler exceeded timeoutMs (500 ms)',
      task: 'iso.work',
    })
    expect(logs.find((l) => l.msg === 'isolated handler ran' && l.taskId === ids[0])).toMatchObject({ n: 0, attempt: 1, partition: 0 })
    // The endless loop's child was terminated at hardTimeoutMs (the attempt had failed at timeoutMs).
    expect(worker.lines.filter((l) => l.includes('passed hardTimeoutMs: terminating its child'))).toHaveLength(2)
    // The ledger has exactly the messages that succeeded.
    const ledger = await t.pool.query<{ message_id: string }>(`SELECT message_id FROM ktask.inbox WHERE group_id = $1`, [`${t.prefix}.iso`])
    expect(new Set(ledger.rows.map((r) => r.message_id))).toEqual(
      new Set([ids[0], ids[2], ids[4], ids[6], ids[8], ...rows.filter((r) => r.n === 1008).map((r) => r.task_id)]),
    )
    // The worker itself never stopped.
    expect(worker.running).toBe(true)
    worker.kill('SIGTERM')
    expect((await worker.exited).code).toBe(0)
  })
})

describe('isolation process: a module that does not load in the child', () => {
  it('fails the message (stage crash, saying why) without a restart loop; the worker goes on', async () => {
    const t = await isolationSetup('iso-noload', 'process')
    const [id] = await t.enqueue([{ n: 0, mode: 'ok' }])
    const worker = await t.startWorker({ FIXTURE_BREAK_CHILD: '1' })
    await waitFor(async () => (await topicCount(t.dlqTopic)) >= 1, { timeoutMs: 30_000, message: 'the message dead-lettered' })
    const [dead] = await readTopic(t.dlqTopic)
    expect(dead!.headers[H.id]).toBe(id)
    expect(dead!.headers[H.failureStage]).toBe('crash')
    expect(dead!.headers[H.errorMessage]).toMatch(/could not load .*this module refuses to load in a child process/)
    expect(await t.rows()).toEqual([])
    expect(worker.running).toBe(true)
    worker.kill('SIGTERM')
    expect((await worker.exited).code).toBe(0)
  })
})
