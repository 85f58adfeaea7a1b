/** Shared benchmark plumbing: endpoints, names, payload, waiting, machine description. */
import { randomBytes } from 'node:crypto'
import { cpus, totalmem, release } from 'node:os'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { kafkajs } from '../../src/kafka/kafkajs.ts'

export const root = fileURLToPath(new URL('../../', import.meta.url))
export const brokers = (process.env.KTASK_BROKERS ?? '127.0.0.1:9092').split(',')
export const registryUrl = process.env.KTASK_SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7'
export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

// ktask's copy of kafkajs, with the request-queue fix ktask's own clients have (an idle raw kafkajs
// connection spins a 1 ms timer: the baseline would pay CPU ktask does not).
const { Kafka, logLevel } = kafkajs()
export const kafka = new Kafka({ clientId: 'ktask-bench', brokers, logLevel: logLevel.NOTHING })

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`)
    await sleep(intervalMs)
  }
}

/** The benchmark payload: a 256-byte Avro record (bench/payload.avsc, shared with the worker app). */
export const payloadSchema = JSON.parse(readFileSync(new URL('../payload.avsc', import.meta.url), 'utf8')) as Record<string, unknown>
export const BODY = 'x'.repeat(216)
export function payload(i: number): { id: string; body: string } {
  return { id: `task-${String(i).padStart(31, '0')}`, body: BODY }
}

export function machine(): Record<string, unknown> {
  const kafkaJar = readdirSync(new URL('../../infra/lib/kafka/', import.meta.url)).find((f) => f.startsWith('kafka_2.13-'))
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    kafka: kafkaJar?.replace(/^kafka_2\.13-|\.jar$/g, ''),
    note: 'Everything (Kafka, registry, Postgres, Redis, the benchmark and its workers) shares these cores.',
  }
}

export async function createTopic(topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
  await admin.disconnect()
}

/** Sum of committed offsets of a group over a topic (or -1 if none yet). */
export async function committedTotal(groupId: string, topic: string): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const [res] = await admin.fetchOffsets({ groupId, topics: [topic] })
    return res!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
  } finally {
    await admin.disconnect()
  }
}

/** Resets a group to the start of a topic once it has no members left (a reset needs an empty group). */
export async function resetGroupWhenEmpty(groupId: string, topic: string): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    await until(
      async () => {
        const { groups } = await admin.describeGroups([groupId])
        return groups[0]?.state === 'Empty' || groups[0]?.state === 'Dead'
      },
      90_000,
      `group ${groupId} to be empty`,
      250,
    )
    await admin.resetOffsets({ groupId, topic, earliest: true })
  } finally {
    await admin.disconnect()
  }
}
