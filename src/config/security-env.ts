/**
 * Credentials for a secured cluster from the environment, for deployments (and the `ktask` operations
 * commands) that configure ktask without code: SASL and TLS for Kafka, basic auth for the registry.
 * Each group is all-or-nothing and validated here, so a half-set group fails naming the missing variable
 * instead of surfacing later as an authentication error from the broker. Secrets never enter a message.
 */
import { readFileSync } from 'node:fs'
import { configError } from '../errors.ts'
import type { KafkaClientOptions, KafkaSaslOptions, SchemaRegistryOptions } from './options.ts'

type KafkaSecurity = Pick<KafkaClientOptions, 'ssl' | 'sasl'>

/** The mechanisms that need nothing but a username and a password (OAUTHBEARER and AWS need code). */
const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const

const set = (value: string | undefined): value is string => value !== undefined && value !== ''

function flag(variable: string, value: string | undefined): boolean | undefined {
  if (!set(value)) return undefined
  if (value === 'true' || value === '1') return true
  if (value === 'false' || value === '0') return false
  throw configError(variable, `must be true or false (got ${JSON.stringify(value)})`)
}

function required(variable: string, value: string | undefined, because: string): string {
  if (!set(value)) throw configError(variable, `must be set when ${because}`)
  return value
}

function sasl(env: NodeJS.ProcessEnv): KafkaSaslOptions | undefined {
  const { KTASK_KAFKA_SASL_MECHANISM: mechanism, KTASK_KAFKA_SASL_USERNAME: username, KTASK_KAFKA_SASL_PASSWORD: password } = env
  if (!set(mechanism)) {
    if (set(username) || set(password))
      throw configError(
        'KTASK_KAFKA_SASL_MECHANISM',
        `must be set with KTASK_KAFKA_SASL_USERNAME/PASSWORD (one of ${SASL_MECHANISMS.join(', ')})`,
      )
    return undefined
  }
  const m = mechanism.toLowerCase()
  if (!(SASL_MECHANISMS as readonly string[]).includes(m)) {
    throw configError('KTASK_KAFKA_SASL_MECHANISM', `must be one of ${SASL_MECHANISMS.join(', ')} (got ${JSON.stringify(mechanism)})`)
  }
  const because = 'KTASK_KAFKA_SASL_MECHANISM is set'
  return {
    mechanism: m as (typeof SASL_MECHANISMS)[number],
    username: required('KTASK_KAFKA_SASL_USERNAME', username, because),
    password: required('KTASK_KAFKA_SASL_PASSWORD', password, because),
  }
}

function ssl(env: NodeJS.ProcessEnv): KafkaSecurity['ssl'] {
  const on = flag('KTASK_KAFKA_SSL', env.KTASK_KAFKA_SSL)
  const caFile = env.KTASK_KAFKA_SSL_CA_FILE
  if (!set(caFile)) return on
  if (on === false) throw configError('KTASK_KAFKA_SSL_CA_FILE', 'is set while KTASK_KAFKA_SSL=false')
  try {
    return { ca: [readFileSync(caFile, 'utf8')] }
  } catch (err) {
    throw configError('KTASK_KAFKA_SSL_CA_FILE', `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}: ${caFile})`, err)
  }
}

/**
 * `ssl` / `sasl` of the Kafka client from KTASK_KAFKA_SSL, KTASK_KAFKA_SSL_CA_FILE and KTASK_KAFKA_SASL_*; a
 * setting the code gives (`inCode`) wins, and its variables are then not read at all.
 */
export function kafkaSecurityFromEnv(env: NodeJS.ProcessEnv, inCode: KafkaSecurity = {}): KafkaSecurity {
  const out: KafkaSecurity = {}
  const tls = inCode.ssl === undefined ? ssl(env) : undefined
  if (tls !== undefined) out.ssl = tls
  const auth = inCode.sasl === undefined ? sasl(env) : undefined
  if (auth) out.sasl = auth
  return out
}

/** Registry basic auth from KTASK_SCHEMA_REGISTRY_USERNAME and KTASK_SCHEMA_REGISTRY_PASSWORD. */
export function registryAuthFromEnv(env: NodeJS.ProcessEnv): SchemaRegistryOptions['auth'] {
  const { KTASK_SCHEMA_REGISTRY_USERNAME: username, KTASK_SCHEMA_REGISTRY_PASSWORD: password } = env
  if (!set(username) && !set(password)) return undefined
  return {
    username: required('KTASK_SCHEMA_REGISTRY_USERNAME', username, 'KTASK_SCHEMA_REGISTRY_PASSWORD is set'),
    password: required('KTASK_SCHEMA_REGISTRY_PASSWORD', password, 'KTASK_SCHEMA_REGISTRY_USERNAME is set'),
  }
}
