import { randomBytes } from 'node:crypto'
import type { Admin, Kafka, Producer } from 'kafkajs'
import pg from 'pg'
import { inject } from 'vitest'
import { kafkajs } from '../../src/kafka/kafkajs.ts'
import { kafkajsTransport } from '../../src/kafka/kafkajs-transport.ts'
import { platformaticOptions } from '../../src/kafka/platformatic-options.ts'
import { platformaticTransport } from '../../src/kafka/platformatic-transport.ts'
import type { KafkaTransport } from '../../src/kafka/transport.ts'
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

/** ktask's transport over a test client (what ktask's own parts take), on the client `KTASK_KAFKA_CLIENT` names. */
export function testTransport(): KafkaTransport {
  if (process.env.KTASK_KAFKA_CLIENT === 'platformatic') return testPlatformaticTransport()
  return kafkajsTransport(testKafka())
}

/** ktask's transport on @platformatic/kafka, whatever KTASK_KAFKA_CLIENT says. */
export function testPlatformaticTransport(): KafkaTransport {
  return platformaticTransport(platformaticOptions('ktask-test', infra().brokers, {}))
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

export interface ScratchDatabase {
  url: string
  /** A pool on the scratch database (ended, with its connections gone, before the database is dropped). */
  pool(max?: number): pg.Pool
}

/**
 * A database of its own for one test. Dropping it is the last cleanup: pools opened through `pool()` are
 * ended, and the drop waits until their server sessions are really gone — `pool.end()` resolves before its
 * clients finish disconnecting, and `DROP DATABASE … WITH (FORCE)` on a session still closing made its
 * client emit 57P01, an uncaught error that failed an otherwise green run.
 */
export async function scratchDatabase(name: string): Promise<ScratchDatabase> {
  const admin = testPool()
  const db = uniqueName(name).replaceAll('-', '_')
  await admin.query(`CREATE DATABASE ${db}`)
  const url = new URL(infra().databaseUrl)
  url.pathname = `/${db}`
  const pools: pg.Pool[] = []
  registerCleanup(async () => {
    await Promise.all(pools.map((p) => p.end()))
    for (let i = 0; i < 100; i++) {
      const { rows } = await admin.query<{ c: number }>('SELECT count(*)::int AS c FROM pg_stat_activity WHERE datname = $1', [db])
      if (rows[0]!.c === 0) break
      await new Promise((r) => setTimeout(r, 50))
    }
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)
  })
  return {
    url: url.href,
    pool(max = 4) {
      const pool = new pg.Pool({ connectionString: url.href, max })
      // A session the drop still has to end must not become an uncaught error.
      pool.on('error', () => {})
      pools.push(pool)
      return pool
    },
  }
}
