/**
 * `rateLimit` and `concurrency` are checked when the task is defined: `max` / `perMs` / `leaseMs` that are
 * not positive integers, a `key` that is not a function, an unknown name, or an app without a database are
 * each a KtaskError naming the option.
 */
import { describe, expect, it } from 'vitest'
import { createApp, isKtaskError } from 'ktask'

const schema = { type: 'record', name: 'A', fields: [{ name: 'user', type: 'string' }] }

function define(extra: Record<string, unknown>, database = true): { code: string; field: string | undefined } | 'defined' {
  const app = createApp({
    brokers: ['127.0.0.1:1'],
    schemaRegistry: { url: 'http://127.0.0.1:1' },
    database: database ? { connectionString: 'postgres://x@127.0.0.1:1/none' } : false,
    logLevel: 'silent',
  })
  try {
    app.task({ name: 'export', queue: 'q', schema, handler: () => {}, ...extra })
  } catch (err) {
    if (isKtaskError(err)) return { code: err.code, field: err.field }
    throw err
  } finally {
    void app.close()
  }
  return 'defined'
}

const refused = (field: string) => ({ code: 'KTASK_INVALID_CONFIG', field: `task "export".${field}` })

describe('task limits at definition', () => {
  it('accepts a rate limit, a keyed one, and a keyed concurrency limit with a lease time', () => {
    expect(define({ rateLimit: { max: 5, perMs: 1000 } })).toBe('defined')
    expect(define({ rateLimit: { max: 5, perMs: 1000, key: (a: { user: string }) => a.user } })).toBe('defined')
    expect(define({ concurrency: { max: 2, key: (a: { user: string }) => a.user, leaseMs: 10_000 } })).toBe('defined')
  })

  it.each([
    [{ rateLimit: { max: 0, perMs: 1000 } }, 'rateLimit.max'],
    [{ rateLimit: { max: 2.5, perMs: 1000 } }, 'rateLimit.max'],
    [{ rateLimit: { max: '5', perMs: 1000 } }, 'rateLimit.max'],
    [{ rateLimit: { perMs: 1000 } }, 'rateLimit.max'],
    [{ rateLimit: { max: 5, perMs: -1 } }, 'rateLimit.perMs'],
    [{ rateLimit: { max: 5, perMs: 0.5 } }, 'rateLimit.perMs'],
    [{ rateLimit: { max: 5, perMs: 1000, key: 'user' } }, 'rateLimit.key'],
    [{ rateLimit: { max: 5, perMs: 1000, per: 1 } }, 'rateLimit.per'],
    [{ rateLimit: 5 }, 'rateLimit'],
    [{ concurrency: { max: 0 } }, 'concurrency.max'],
    [{ concurrency: { max: NaN } }, 'concurrency.max'],
    [{ concurrency: { max: 2, key: 42 } }, 'concurrency.key'],
    [{ concurrency: { max: 2, leaseMs: 10 } }, 'concurrency.leaseMs'],
    [{ concurrency: { max: 2, lease: 1000 } }, 'concurrency.lease'],
  ])('%j is refused naming %s', (extra, field) => {
    expect(define(extra)).toEqual(refused(field))
  })

  it('refuses a limit key together with blocked-key retries', () => {
    const key = (a: { user: string }) => a.user
    expect(define({ retry: { ordering: 'key' }, concurrency: { max: 2, key } })).toEqual(refused('retry.ordering'))
    expect(define({ retry: { ordering: 'key' }, rateLimit: { max: 2, perMs: 1000, key } })).toEqual(refused('retry.ordering'))
    expect(define({ retry: { ordering: 'key' }, concurrency: { max: 2 } })).toBe('defined')
  })

  it('refuses limits without a database, naming the option', () => {
    expect(define({ rateLimit: { max: 5, perMs: 1000 } }, false)).toEqual(refused('rateLimit'))
    expect(define({ concurrency: { max: 1 } }, false)).toEqual(refused('concurrency'))
  })
})
