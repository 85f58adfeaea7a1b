/**
 * The @platformatic/kafka clients' options from ktask's `kafka` settings — in a file of its own, without
 * the library: createTransport checks them when the app is created, and loads the library (~65 MiB of
 * RSS once imported) only for an app that runs on it (lazy-transport.ts).
 */
import type { KafkaClientOptions } from '../config/options.ts'
import { configError } from '../errors.ts'
import type { PlatformaticClientOptions } from './platformatic-consumer.ts'

const SASL_MECHANISMS = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' } as const

/** The library's client options from ktask's `kafka` settings (resolve.ts rejected what has no equivalent). */
export function platformaticOptions(clientId: string, brokers: string[], kafka: KafkaClientOptions): PlatformaticClientOptions {
  const options: PlatformaticClientOptions = { clientId, bootstrapBrokers: brokers }
  if (kafka.ssl) options.tls = kafka.ssl === true ? {} : kafka.ssl
  const sasl = kafka.sasl
  if (sasl) {
    if (sasl.mechanism === 'oauthbearer') {
      const provider = sasl.oauthBearerProvider
      options.sasl = { mechanism: 'OAUTHBEARER', token: async () => (await provider()).value }
    } else if (sasl.mechanism === 'aws') {
      throw configError('kafka.sasl.mechanism', "'aws' is not supported with kafka.client 'platformatic'")
    } else {
      options.sasl = { mechanism: SASL_MECHANISMS[sasl.mechanism], username: sasl.username, password: sasl.password }
    }
  }
  if (kafka.connectionTimeout !== undefined) options.connectTimeout = kafka.connectionTimeout
  const requestTimeout = kafka.requestTimeout ?? 30_000
  options.requestTimeout = requestTimeout
  options.timeout = requestTimeout
  const retry = kafka.retry ?? {}
  if (retry.retries !== undefined) options.retries = retry.retries
  if (retry.initialRetryTime !== undefined) options.retryDelay = retry.initialRetryTime
  return options
}
