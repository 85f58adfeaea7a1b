/**
 * `AppOptions.kafka` is ktask's own type (KafkaClientOptions): the public options name no kafkajs type,
 * and every value is checked when the app is created. kafka/client.ts hands them to kafkajs as they are.
 */
import { readdirSync, readFileSync } from 'node:fs'
import type { KafkaConfig } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import type { KafkaClientOptions } from 'ktask'
import { kafkaClientDefaults, kafkaRetryDefaults } from '../../../src/config/defaults.ts'
import { resolveAppOptions } from '../../../src/config/resolve.ts'
import { kafkaOperationBudgetMs } from '../../../src/kafka/request-budget.ts'

// Compile-time: what users give ktask is what kafkajs takes (tsc fails here if the two drift apart).
const asKafkajs = (options: KafkaClientOptions): KafkaConfig => ({ brokers: ['b:9092'], ...options })

const resolve = (kafka: unknown) => resolveAppOptions({ logLevel: 'silent', kafka: kafka as KafkaClientOptions }, {})

describe('kafka client options', () => {
  it('src/config/ imports nothing from kafkajs', () => {
    const dir = new URL('../../../src/config/', import.meta.url)
    for (const file of readdirSync(dir)) {
      expect({ file, kafkajs: /from 'kafkajs'/.test(readFileSync(new URL(file, dir), 'utf8')) }).toEqual({ file, kafkajs: false })
    }
  })

  it('are passed on as given, with TLS and SASL from the environment under them', () => {
    const sasl = { mechanism: 'scram-sha-512', username: 'u', password: 'p' } as const
    const kafka = { ssl: { rejectUnauthorized: false }, sasl, connectionTimeout: 3000, retry: { retries: 2, factor: 0 } }
    expect(asKafkajs(resolve(kafka).kafka)).toMatchObject(kafka)
    const fromEnv = resolveAppOptions(
      { logLevel: 'silent' },
      { KTASK_KAFKA_SSL: 'true', KTASK_KAFKA_SASL_MECHANISM: 'PLAIN', KTASK_KAFKA_SASL_USERNAME: 'u', KTASK_KAFKA_SASL_PASSWORD: 'p' },
    )
    expect(fromEnv.kafka).toEqual({ client: 'kafkajs', ssl: true, sasl: { mechanism: 'plain', username: 'u', password: 'p' } })
  })

  it.each([
    [{ sasl: { mechanism: 'gssapi' } }, 'kafka.sasl.mechanism'],
    [{ sasl: { mechanism: 'plain', username: 'u', pasword: 'p' } }, 'kafka.sasl.pasword'],
    [{ ssl: 'yes' }, 'kafka.ssl'],
    [{ requestTimeout: -1 }, 'kafka.requestTimeout'],
    [{ connectionTimeout: 1.5 }, 'kafka.connectionTimeout'],
    [{ enforceRequestTimeout: 'no' }, 'kafka.enforceRequestTimeout'],
    [{ retry: { factor: 2 } }, 'kafka.retry.factor'],
    [{ retry: { retries: -1 } }, 'kafka.retry.retries'],
    [{ retry: { retires: 3 } }, 'kafka.retry.retires'],
    // kafkajs-only settings are not ktask's options.
    [{ socketFactory: () => undefined }, 'kafka.socketFactory'],
  ])('%j is refused naming %s', (kafka, field) => {
    expect(() => resolve(kafka)).toThrow(expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field }))
  })

  it("the documented defaults are the client's: the time budgets derived from them come out the same", () => {
    const sasl = { mechanism: 'plain', username: 'u', password: 'p' } as const
    expect(kafkaOperationBudgetMs({ sasl })).toBe(kafkaOperationBudgetMs({ sasl, ...kafkaClientDefaults, retry: kafkaRetryDefaults }))
  })
})
