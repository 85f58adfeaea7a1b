/**
 * A secured cluster without a module: SASL, TLS and registry credentials from the environment, so the
 * operations commands (`ktask topics`, `dlq`, …) reach it the way an app configured in code does.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { resolveAppOptions } from '../../../src/config/resolve.ts'

const resolve = (env: NodeJS.ProcessEnv, options = {}) => resolveAppOptions({ logLevel: 'silent', ...options }, env)

describe('security settings from the environment', () => {
  it('takes SASL, TLS and registry basic auth from KTASK_* variables', () => {
    const c = resolve({
      KTASK_KAFKA_SSL: 'true',
      KTASK_KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KTASK_KAFKA_SASL_USERNAME: 'svc',
      KTASK_KAFKA_SASL_PASSWORD: 's3cret',
      KTASK_SCHEMA_REGISTRY_USERNAME: 'reg',
      KTASK_SCHEMA_REGISTRY_PASSWORD: 'pw',
    })
    expect(c.kafka).toEqual({ client: 'kafkajs', ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'svc', password: 's3cret' } })
    expect(c.schemaRegistry.auth).toEqual({ username: 'reg', password: 'pw' })
  })

  it('reads a CA bundle for TLS from KTASK_KAFKA_SSL_CA_FILE (TLS on without KTASK_KAFKA_SSL)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ktask-ca-'))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'ca.pem')
    writeFileSync(file, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    expect(resolve({ KTASK_KAFKA_SSL_CA_FILE: file }).kafka).toEqual({
      client: 'kafkajs',
      ssl: { ca: ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'] },
    })
  })

  it('sets nothing when no variable is given', () => {
    const c = resolve({})
    expect(c.kafka).toEqual({ client: 'kafkajs' })
    expect(c.schemaRegistry.auth).toBeUndefined()
  })

  it('lets code win over the environment, setting by setting', () => {
    const env = {
      KTASK_KAFKA_SSL: 'true',
      KTASK_KAFKA_SASL_MECHANISM: 'plain',
      KTASK_KAFKA_SASL_USERNAME: 'u',
      KTASK_KAFKA_SASL_PASSWORD: 'p',
      KTASK_SCHEMA_REGISTRY_USERNAME: 'reg',
      KTASK_SCHEMA_REGISTRY_PASSWORD: 'pw',
    }
    const c = resolve(env, {
      kafka: { sasl: { mechanism: 'plain', username: 'code', password: 'x' }, connectionTimeout: 3000 },
      schemaRegistry: { auth: { username: 'c', password: 'd' } },
    })
    expect(c.kafka).toEqual({
      client: 'kafkajs',
      ssl: true,
      sasl: { mechanism: 'plain', username: 'code', password: 'x' },
      connectionTimeout: 3000,
    })
    expect(c.schemaRegistry.auth).toEqual({ username: 'c', password: 'd' })
    expect(resolve(env, { kafka: { ssl: false } }).kafka.ssl).toBe(false)
  })

  it.each([
    [{ KTASK_KAFKA_SSL: 'yes' }, 'KTASK_KAFKA_SSL'],
    [
      { KTASK_KAFKA_SASL_MECHANISM: 'kerberos', KTASK_KAFKA_SASL_USERNAME: 'u', KTASK_KAFKA_SASL_PASSWORD: 'p' },
      'KTASK_KAFKA_SASL_MECHANISM',
    ],
    [{ KTASK_KAFKA_SASL_MECHANISM: 'plain', KTASK_KAFKA_SASL_PASSWORD: 'p' }, 'KTASK_KAFKA_SASL_USERNAME'],
    [{ KTASK_KAFKA_SASL_MECHANISM: 'plain', KTASK_KAFKA_SASL_USERNAME: 'u' }, 'KTASK_KAFKA_SASL_PASSWORD'],
    [{ KTASK_KAFKA_SASL_USERNAME: 'u', KTASK_KAFKA_SASL_PASSWORD: 'p' }, 'KTASK_KAFKA_SASL_MECHANISM'],
    [{ KTASK_KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem' }, 'KTASK_KAFKA_SSL_CA_FILE'],
    [{ KTASK_SCHEMA_REGISTRY_USERNAME: 'reg' }, 'KTASK_SCHEMA_REGISTRY_PASSWORD'],
    [{ KTASK_SCHEMA_REGISTRY_PASSWORD: 'pw' }, 'KTASK_SCHEMA_REGISTRY_USERNAME'],
  ])('rejects %j naming %s', (env, field) => {
    expect(() => resolve(env)).toThrow(expect.objectContaining({ code: 'KTASK_INVALID_CONFIG', field }))
  })

  it('never puts a password in an error message', () => {
    expect(() =>
      resolve({ KTASK_KAFKA_SASL_MECHANISM: 'kerberos', KTASK_KAFKA_SASL_USERNAME: 'u', KTASK_KAFKA_SASL_PASSWORD: 'hunter2' }),
    ).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') as unknown }))
  })
})
