/**
 * `batchHandler` is checked when the task or consumer is defined: exactly one of `handler` and
 * `batchHandler`, a function, in a transaction, and not with options that work one message at a time
 * (isolation, rateLimit, concurrency) — each a KtaskError naming the option.
 */
import { describe, expect, it } from 'vitest'
import { createApp, isKtaskError } from 'ktask'

const schema = { type: 'record', name: 'A', fields: [{ name: 'n', type: 'int' }] }
const batchHandler = async (): Promise<void> => {}

function newApp() {
  return createApp({
    brokers: ['127.0.0.1:1'],
    schemaRegistry: { url: 'http://127.0.0.1:1' },
    database: { connectionString: 'postgres://x@127.0.0.1:1/none' },
    logLevel: 'silent',
  })
}

function outcome(define: (app: ReturnType<typeof newApp>) => void): { code: string; field: string | undefined } | 'defined' {
  const app = newApp()
  try {
    define(app)
  } catch (err) {
    if (isKtaskError(err)) return { code: err.code, field: err.field }
    throw err
  } finally {
    void app.close()
  }
  return 'defined'
}

const task = (extra: Record<string, unknown>) => (app: ReturnType<typeof newApp>) =>
  app.task({ name: 'load', queue: 'q', schema, ...extra })
const consumer = (extra: Record<string, unknown>) => (app: ReturnType<typeof newApp>) =>
  app.consume({ topic: 'orders', groupId: 'loader', ...extra })
const refused = (owner: string, field: string) => ({ code: 'KTASK_INVALID_CONFIG', field: `${owner}.${field}` })

describe('batchHandler options', () => {
  it('defines a task or a consumer with a batchHandler alone', () => {
    expect(outcome(task({ batchHandler }))).toBe('defined')
    expect(outcome(consumer({ batchHandler }))).toBe('defined')
  })

  it('refuses both handler and batchHandler, and neither, naming the field', () => {
    expect(outcome(task({ batchHandler, handler: () => {} }))).toEqual(refused('task "load"', 'batchHandler'))
    expect(outcome(consumer({ batchHandler, handler: () => {} }))).toEqual(refused('consumer "loader"', 'batchHandler'))
    expect(outcome(task({}))).toEqual(refused('task "load"', 'handler'))
    expect(outcome(consumer({}))).toEqual(refused('consumer "loader"', 'handler'))
    expect(outcome(task({ batchHandler: 'insert' }))).toEqual(refused('task "load"', 'batchHandler'))
  })

  it('refuses transaction: false, isolation, rateLimit and concurrency with a batchHandler', () => {
    expect(outcome(task({ batchHandler, transaction: false, ledger: false }))).toEqual(refused('task "load"', 'transaction'))
    expect(outcome(task({ batchHandler, isolation: 'process' }))).toEqual(refused('task "load"', 'isolation'))
    expect(outcome(task({ batchHandler, isolation: 'thread' }))).toEqual(refused('task "load"', 'isolation'))
    expect(outcome(task({ batchHandler, rateLimit: { max: 5, perMs: 1000 } }))).toEqual(refused('task "load"', 'rateLimit'))
    expect(outcome(task({ batchHandler, concurrency: { max: 2 } }))).toEqual(refused('task "load"', 'concurrency'))
    // The same options with a single handler are fine.
    expect(outcome(task({ handler: () => {}, isolation: 'process' }))).toBe('defined')
  })
})
