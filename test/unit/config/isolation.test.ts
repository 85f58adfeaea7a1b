/**
 * `isolation` and its options are checked when the task is defined (a bad value, `hardTimeoutMs` not above
 * `timeoutMs`, a child option without isolation, a module that is neither a file URL nor an absolute
 * path), and the module to load the handler from when the worker starts: each a KtaskError naming the
 * option.
 */
import { describe, expect, it } from 'vitest'
import { createApp, isKtaskError } from 'ktask'

const schema = { type: 'record', name: 'A', fields: [{ name: 'n', type: 'int' }] }

function newApp() {
  return createApp({
    brokers: ['127.0.0.1:1'],
    schemaRegistry: { url: 'http://127.0.0.1:1' },
    database: { connectionString: 'postgres://x@127.0.0.1:1/none' },
    logLevel: 'silent',
  })
}

function define(extra: Record<string, unknown>): { code: string; field: string | undefined; message: string } | 'defined' {
  const app = newApp()
  try {
    app.task({ name: 'render', queue: 'q', schema, handler: () => {}, ...extra })
  } catch (err) {
    if (isKtaskError(err)) return { code: err.code, field: err.field, message: err.message }
    throw err
  } finally {
    void app.close()
  }
  return 'defined'
}

const refused = (field: string): unknown => expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field: `task "render".${field}` })

describe('isolation options', () => {
  it('accepts thread and process isolation with their options', () => {
    expect(define({ isolation: 'thread' })).toBe('defined')
    expect(define({ isolation: 'none' })).toBe('defined')
    expect(
      define({
        isolation: 'process',
        module: import.meta.url,
        timeoutMs: 1000,
        hardTimeoutMs: 2000,
        maxTasksPerChild: 100,
        maxMemoryPerChildMb: 256,
      }),
    ).toBe('defined')
    expect(define({ isolation: 'thread', module: '/srv/app/tasks.js' })).toBe('defined')
  })

  it('refuses an unknown isolation', () => {
    expect(define({ isolation: 'fork' })).toEqual(refused('isolation'))
  })

  it('refuses hardTimeoutMs at or below timeoutMs (also the default timeoutMs)', () => {
    expect(define({ isolation: 'thread', timeoutMs: 1000, hardTimeoutMs: 1000 })).toEqual(refused('hardTimeoutMs'))
    expect(define({ isolation: 'thread', hardTimeoutMs: 1000 })).toEqual(refused('hardTimeoutMs'))
    expect(define({ isolation: 'process', timeoutMs: 1000, hardTimeoutMs: 0 })).toEqual(refused('hardTimeoutMs'))
  })

  it('refuses the options of isolated handlers without isolation', () => {
    expect(define({ hardTimeoutMs: 60_000 })).toEqual(refused('hardTimeoutMs'))
    expect(define({ isolation: 'none', maxTasksPerChild: 10 })).toEqual(refused('maxTasksPerChild'))
    expect(define({ maxMemoryPerChildMb: 100 })).toEqual(refused('maxMemoryPerChildMb'))
    expect(define({ module: import.meta.url })).toEqual(refused('module'))
  })

  it('refuses bad limits and modules', () => {
    expect(define({ isolation: 'thread', maxTasksPerChild: 0 })).toEqual(refused('maxTasksPerChild'))
    expect(define({ isolation: 'thread', maxMemoryPerChildMb: 8 })).toEqual(refused('maxMemoryPerChildMb'))
    expect(define({ isolation: 'thread', module: './tasks.ts' })).toEqual(refused('module'))
    expect(define({ isolation: 'thread', module: 42 })).toEqual(refused('module'))
  })

  it('refuses, at worker start, an isolated task no module is known to load the handler from', async () => {
    const app = newApp()
    app.task({ name: 'render', queue: 'q', schema, isolation: 'process', handler: () => {} })
    const error = await app
      .worker()
      .start()
      .then(
        () => undefined,
        (err: unknown) => err,
      )
    await app.close()
    expect(isKtaskError(error, 'KTASK_INVALID_CONFIG')).toBe(true)
    expect(error).toMatchObject({ field: 'task "render".module' })
    expect((error as Error).message).toMatch(/module: import\.meta\.url.*ktask worker <module>/)
  })
})
