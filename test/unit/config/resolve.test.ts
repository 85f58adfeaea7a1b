import { describe, expect, it } from 'vitest'
import { resolveAppOptions, resolveWorkerOptions } from '../../../src/config/resolve.ts'

const env = {
  KTASK_BROKERS: 'k1:9092, k2:9093',
  KTASK_PREFIX: 'envp',
  KTASK_SCHEMA_REGISTRY_URL: 'http://reg:8081/apis/ccompat/v7/',
  DATABASE_URL: 'postgres://u@db:5432/app',
  LOG_LEVEL: 'debug',
}

describe('app options', () => {
  it('uses defaults when nothing is given', () => {
    const c = resolveAppOptions({ logLevel: 'silent' }, {})
    expect(c).toMatchObject({
      brokers: ['127.0.0.1:9092'],
      prefix: 'ktask',
      schemaRegistry: { url: 'http://127.0.0.1:8081/apis/ccompat/v7', timeoutMs: 5000 },
      database: {
        connectionString: 'postgres://postgres@127.0.0.1:5432/test',
        statementTimeoutMs: 30_000,
        idleInTransactionTimeoutMs: 60_000,
        migrate: true,
      },
      ledger: { retentionDays: 7 },
      maxMessageBytes: 1_048_576,
      taskRetentionDays: 7,
    })
  })

  it('takes the environment over defaults, and code over the environment', () => {
    const fromEnv = resolveAppOptions({}, env)
    expect(fromEnv).toMatchObject({
      brokers: ['k1:9092', 'k2:9093'],
      prefix: 'envp',
      schemaRegistry: { url: 'http://reg:8081/apis/ccompat/v7' },
      database: { connectionString: 'postgres://u@db:5432/app' },
    })
    expect(fromEnv.logger.level).toBe('debug')
    const fromCode = resolveAppOptions(
      {
        brokers: 'c:1',
        prefix: 'code',
        schemaRegistry: { url: 'https://r.example' },
        database: { connectionString: 'postgresql://x@y/z' },
        logLevel: 'warn',
      },
      env,
    )
    expect(fromCode).toMatchObject({
      brokers: ['c:1'],
      prefix: 'code',
      schemaRegistry: { url: 'https://r.example' },
      database: { connectionString: 'postgresql://x@y/z' },
    })
    expect(fromCode.logger.level).toBe('warn')
  })

  it('runs without a database when told to', () => {
    expect(resolveAppOptions({ database: false, logLevel: 'silent' }, env).database).toBeUndefined()
  })

  it.each([
    [{ brokers: ['localhost'] }, {}, 'brokers[0]'],
    [{}, { KTASK_BROKERS: 'a:1,nope' }, 'KTASK_BROKERS[1]'],
    [{ prefix: 'has space' }, {}, 'prefix'],
    [{}, { KTASK_PREFIX: 'bad/prefix' }, 'KTASK_PREFIX'],
    [{ schemaRegistry: { url: 'ftp://x' } }, {}, 'schemaRegistry.url'],
    [{}, { DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ logLevel: 'loud' }, {}, 'logLevel'],
    [{ queues: { q: { partitions: 0 } } }, {}, 'queues.q.partitions'],
    [{ queues: { q: { ordering: 'random' } } }, {}, 'queues.q.ordering'],
    [{ ledger: { retentionDays: 0 } }, {}, 'ledger.retentionDays'],
    [{}, { KTASK_LOG_FORMAT: 'xml' }, 'KTASK_LOG_FORMAT'],
    [{}, { KTASK_LOG_DESTINATION: 'syslog' }, 'KTASK_LOG_DESTINATION'],
  ])('rejects %j (env %j) naming %s', (options, e, field) => {
    expect(() => resolveAppOptions({ logLevel: 'silent', ...options } as never, e)).toThrow(
      expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field }),
    )
  })

  it('hides the password of a bad DATABASE_URL in the error', () => {
    expect(() => resolveAppOptions({}, { DATABASE_URL: 'mysql://user:secret@h/db' })).toThrow(/mysql:\/\/user:\*\*\*@h\/db/)
  })
})

describe('worker options', () => {
  it('has documented defaults', () => {
    expect(resolveWorkerOptions()).toMatchObject({
      concurrency: 16,
      shutdownGraceMs: 30_000,
      sessionTimeoutMs: 30_000,
      heartbeatIntervalMs: 3000,
      commitIntervalMs: 500,
      maxBufferedPerPartition: 1000,
      transactionBatchSize: 50,
    })
  })

  it('checks the heartbeat interval against the session timeout', () => {
    expect(() => resolveWorkerOptions({ sessionTimeoutMs: 3000, heartbeatIntervalMs: 3000 })).toThrow(
      expect.objectContaining({ field: 'heartbeatIntervalMs' }),
    )
    expect(() => resolveWorkerOptions({ concurrency: 0 })).toThrow(expect.objectContaining({ field: 'concurrency' }))
  })
})
