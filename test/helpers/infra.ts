import { randomBytes } from 'node:crypto'
import type { Admin, Kafka, Producer } from 'kafkajs'
import pg from 'pg'
import { inject } from 'vitest'
import { kafkajs } from '../../src/kafka/kafkajs.ts'
import { registerCleanup } from './cleanup.ts'
import type { InfraEndpoints } from './infra-endpoints.ts'

export function infra(): InfraEndpoints {
  return inject('infra')
}

/** A name no other test (or earlier run against the same broker) uses: topics, groups, prefixes. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
}

export function testKafka(): Kafka {
  // ktask's copy of kafkajs: test clients get the fix ktask's own clients get (src/kafka/request-queue-fix.ts).
  const { Kafka, logLevel } = kafkajs()
  return new Kafka({ clientId: 'ktask-test', brokers: infra().brokers, logLevel: logLevel.NOTHING })
}

export async function testAdmin(): Promise<Admin> {
  const admin = testKafka().admin()
  await admin.connect()
  registerCleanup(() => admin.disconnect())
  return admin
}

export async function testProducer(): Promise<Producer> {
  const producer = testKafka().producer()
  await producer.connect()
  registerCleanup(() => producer.disconnect())
  return producer
}

export function testPool(): pg.Pool {
  const pool = new pg.Pool({ connectionString: infra().databaseUrl, max: 4 })
  pool.on('error', () => {})
  registerCleanup(() => pool.end())
  return pool
}
