/**
 * The foundation talks to real services: Apache Kafka 4.x, Apicurio Registry 3.x and Postgres.
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import { AvroCodec } from '../../src/codec/avro-codec.ts'
import { HttpSchemaRegistryClient } from '../../src/codec/registry-client.ts'
import { migrate } from '../../src/store/migrate.ts'
import pg from 'pg'
import { ourJavaProcesses, registryStorageKind, up } from '../../infra/local-infra.ts'
import { registryStorage } from '../../infra/registry-storage.ts'
import { infra, testAdmin, testKafka, testPool, testProducer, uniqueName } from '../helpers/infra.ts'
import { fetchApiVersions } from '../helpers/kafka-api-versions.ts'
import { registerCleanup } from '../helpers/cleanup.ts'
import { waitFor } from '../helpers/wait.ts'

describe('infrastructure', () => {
  it('the broker is Apache Kafka 4.x', async () => {
    const versions = await fetchApiVersions(infra().brokers[0]!)
    // KIP-896 (Kafka 4.0) removed Fetch v0-v3 and OffsetCommit v0-v1; every 3.x broker still offers them.
    expect(versions.get(1)?.min).toBeGreaterThanOrEqual(4)
    expect(versions.get(8)?.min).toBeGreaterThanOrEqual(2)
    if (infra().sources.kafka === 'local') {
      const log = readFileSync(fileURLToPath(new URL('../../infra/.run/kafka.log', import.meta.url)), 'utf8')
      const reported = [...log.matchAll(/Kafka version: (\S+)/g)].map((m) => m[1]).at(-1)
      expect(reported).toMatch(/^4\.\d+\.\d+/)
    }
  })

  it('the schema registry is Apicurio Registry 3.x', async () => {
    const base = infra().schemaRegistryUrl.replace(/\/apis\/ccompat\/v7\/?$/, '')
    const info = (await (await fetch(`${base}/apis/registry/v3/system/info`)).json()) as { name: string; version: string }
    expect(info.name).toMatch(/^Apicurio Registry/)
    expect(info.version).toMatch(/^3\.\d+\.\d+/)
  })

  it('produces and consumes through kafkajs', async () => {
    const admin = await testAdmin()
    const topic = uniqueName('smoke')
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })
    const producer = await testProducer()
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'a', value: 'one' },
        { key: 'b', value: 'two' },
      ],
    })

    const consumer = testKafka().consumer({ groupId: uniqueName('smoke-group') })
    registerCleanup(() => consumer.disconnect())
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    const seen: string[] = []
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) })
    await waitFor(() => seen.length === 2, { message: 'two messages' })
    expect(seen.sort()).toEqual(['one', 'two'])
  })

  it('registers an Avro schema and round-trips a record through the registry', async () => {
    const codec = new AvroCodec(new HttpSchemaRegistryClient({ url: infra().schemaRegistryUrl }))
    const type = avro.Type.forSchema({
      type: 'record',
      name: 'Smoke',
      namespace: 'ktask.test',
      fields: [
        { name: 'to', type: 'string' },
        { name: 'count', type: 'int' },
      ],
    })
    const id = await codec.register(uniqueName('smoke-value'), type)
    const bytes = codec.encode(id, type, { to: 'a@example.com', count: 3 }, 'smoke')
    expect(bytes[0]).toBe(0)
    expect(bytes.readUInt32BE(1)).toBe(id)
    // A fresh codec knows nothing: decoding fetches the writer schema by id from the registry.
    const fresh = new AvroCodec(new HttpSchemaRegistryClient({ url: infra().schemaRegistryUrl }))
    const decoded = await fresh.decode(bytes, type)
    expect(decoded.value).toEqual({ to: 'a@example.com', count: 3 })
  })

  it('connects to Postgres and runs the migrations (twice is a no-op)', async () => {
    const pool = testPool()
    const first = await migrate(pool)
    const second = await migrate(pool)
    expect(second.applied).toEqual([])
    expect(second.current).toBe(first.current)
    const { rows } = await pool.query('SELECT max(version)::int AS v FROM ktask.schema_migrations')
    expect(rows[0].v).toBe(first.current)
  })

  it('local infra: up again while running keeps the same single broker and registry', async () => {
    if (infra().sources.kafka !== 'local' || infra().sources.registry !== 'local') return
    const pidFile = (name: string) => fileURLToPath(new URL(`../../infra/.run/${name}.pid`, import.meta.url))
    expect(existsSync(pidFile('kafka'))).toBe(true)
    const before = { kafka: readFileSync(pidFile('kafka'), 'utf8'), registry: readFileSync(pidFile('registry'), 'utf8') }
    await up(undefined, () => {})
    expect({ kafka: readFileSync(pidFile('kafka'), 'utf8'), registry: readFileSync(pidFile('registry'), 'utf8') }).toEqual(before)
    expect(ourJavaProcesses()).toHaveLength(2)
  })

  it('local infra: the registry keeps its schemas in Postgres, so a restart does not lose them', async () => {
    if (infra().sources.registry !== 'local') return
    expect(registryStorageKind()).toBe('postgresql')
    const subject = uniqueName('stored-value')
    const codec = new AvroCodec(new HttpSchemaRegistryClient({ url: infra().schemaRegistryUrl }))
    await codec.register(subject, avro.Type.forSchema({ type: 'record', name: 'Stored', fields: [{ name: 'a', type: 'int' }] }))
    const db = new pg.Client({ connectionString: registryStorage().databaseUrl })
    await db.connect()
    registerCleanup(() => db.end())
    const { rowCount } = await db.query('SELECT 1 FROM versions WHERE artifactid = $1', [subject])
    expect(rowCount).toBe(1)
  })
})
