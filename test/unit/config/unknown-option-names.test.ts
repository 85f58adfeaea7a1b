/**
 * Issue 13: an option name ktask does not know used to pass silently, so a typo (`concurency: 4`,
 * `timeout: 1000`) or an option of a later version did nothing. App, worker and HTTP options now refuse
 * it with KTASK_INVALID_CONFIG naming the option and the closest known name.
 */
import { describe, expect, it } from 'vitest'
import { createApp, createHttpService, isKtaskError } from 'ktask'
import { resolveAppOptions, resolveWorkerOptions } from '../../../src/config/resolve.ts'
import { resolveHttpOptions } from '../../../src/http/options.ts'

function refusal(run: () => unknown): { code: string; field: string | undefined; message: string } | 'no error' {
  try {
    run()
  } catch (err) {
    if (isKtaskError(err)) return { code: err.code, field: err.field, message: err.message }
    throw err
  }
  return 'no error'
}

const refused = (field: string, suggestion?: string) => ({
  code: 'KTASK_INVALID_CONFIG',
  field,
  message: suggestion ? expect.stringContaining(`did you mean "${suggestion}"?`) : expect.any(String),
})

describe('unknown option names', () => {
  it.each([
    [{ brokerz: 'a:1' }, 'brokerz', 'brokers'],
    [{ logLevl: 'warn' }, 'logLevl', 'logLevel'],
    [{ schemaRegistry: { timeout: 1000 } }, 'schemaRegistry.timeout', 'timeoutMs'],
    [{ database: { connectionStrng: 'postgres://x@y/z' } }, 'database.connectionStrng', 'connectionString'],
    [{ queues: { orders: { partition: 3 } } }, 'queues.orders.partition', 'partitions'],
    [{ ledger: { retentionDay: 3 } }, 'ledger.retentionDay', 'retentionDays'],
    [{ producer: { maxQueueBytes: 1 } }, 'producer.maxQueueBytes', 'maxQueuedBytes'],
    [{ worker: { concurency: 4 } }, 'worker.concurency', 'concurrency'],
    [{ kafka: { requestTimeOut: 1 } }, 'kafka.requestTimeOut', 'requestTimeout'],
  ])('app option %j is refused as %s (did you mean %s?)', (options, field, suggestion) => {
    expect(refusal(() => resolveAppOptions({ logLevel: 'silent', ...options } as never, {}))).toEqual(refused(field, suggestion))
  })

  it('an option of a later version is refused too, listing the known names when none is close', () => {
    const error = refusal(() => resolveAppOptions({ logLevel: 'silent', isolation: 'process' } as never, {}))
    expect(error).toEqual(refused('isolation'))
    expect(error !== 'no error' && error.message).toMatch(/known: .*brokers/)
  })

  it('every unknown name is named, not only the first', () => {
    const error = refusal(() => resolveAppOptions({ logLevel: 'silent', brokerz: 'a:1', prefx: 'p' } as never, {}))
    expect(error).toEqual(refused('brokerz', 'brokers'))
    expect(error !== 'no error' && error.message).toContain('"prefx"')
  })

  it.each([
    [{ concurency: 4 }, 'concurency', 'concurrency'],
    [{ shutdownGrace: 1000 }, 'shutdownGrace', 'shutdownGraceMs'],
    [{ queue: ['q'] }, 'queue', 'queues'],
  ])('worker option %j is refused as %s (did you mean %s?)', (options, field, suggestion) => {
    expect(refusal(() => resolveWorkerOptions(options as never))).toEqual(refused(field, suggestion))
    const app = createApp({ logLevel: 'silent', database: false })
    expect(refusal(() => app.worker(options as never))).toEqual(refused(field, suggestion))
  })

  it.each([
    [{ bodyLimit: 1024 }, 'bodyLimit', 'bodyLimitBytes'],
    [{ Port: 8080 }, 'Port', 'port'],
    [{ maxEventStream: 5 }, 'maxEventStream', 'maxEventStreams'],
  ])('HTTP option %j is refused as %s (did you mean %s?)', (options, field, suggestion) => {
    expect(refusal(() => resolveHttpOptions(options as never, {}))).toEqual(refused(field, suggestion))
    const app = createApp({ logLevel: 'silent', database: false })
    expect(refusal(() => createHttpService(app, options as never))).toEqual(refused(field, suggestion))
  })

  it('known names, also with undefined values, still pass', () => {
    expect(() =>
      resolveAppOptions({ logLevel: 'silent', brokers: undefined, database: { max: undefined }, queues: { q: { ordering: 'key' } } }, {}),
    ).not.toThrow()
    expect(() => resolveWorkerOptions({ queues: undefined, consumers: undefined })).not.toThrow()
    expect(() => resolveHttpOptions({ port: 0, token: undefined }, {})).not.toThrow()
  })
})

describe('unknown option names in task and consumer definitions', () => {
  const schema = { type: 'record', name: 'N', fields: [{ name: 'n', type: 'int' }] }

  it("app.task() refuses 'retries' and 'timeout' (JavaScript users' typos) and options of later versions, naming the closest", async () => {
    const { createApp } = await import('../../../src/index.ts')
    const app = createApp({ logLevel: 'silent', database: false })
    const define = (extra: Record<string, unknown>) => () =>
      app.task({
        name: `t${Math.random()}`.replace('.', ''),
        queue: 'q',
        schema,
        handler: () => {},
        ledger: false,
        transaction: false,
        ...extra,
      })
    expect(define({ retries: 5 })).toThrow(
      expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', message: expect.stringMatching(/did you mean "retry"/) }),
    )
    expect(define({ timeout: 1000 })).toThrow(
      expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', message: expect.stringMatching(/did you mean "timeoutMs"/) }),
    )
    expect(define({ rateLimit: { max: 5 } })).toThrow(expect.objectContaining({ code: 'KTASK_INVALID_CONFIG' }))
    expect(define({ retry: { atempts: 2 } })).toThrow(
      expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', message: expect.stringMatching(/"attempts"/) }),
    )
    expect(define({ retry: { attempts: 2 }, timeoutMs: 500 })).not.toThrow()
    await app.close()
  })

  it('app.consume() refuses them too', async () => {
    const { createApp } = await import('../../../src/index.ts')
    const app = createApp({ logLevel: 'silent', database: false })
    expect(() =>
      app.consume({ topic: 't', groupId: 'g', handler: () => {}, ledger: false, transaction: false, idempotencykey: 'id' } as never),
    ).toThrow(expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', message: expect.stringMatching(/"idempotencyKey"/) }))
    await app.close()
  })
})
