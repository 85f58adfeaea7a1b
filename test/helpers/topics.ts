/** Reading what landed on a topic (DLQ, retry tiers) with a throwaway consumer group. */
import type { KafkaMessage } from 'kafkajs'
import { registerCleanup } from './cleanup.ts'
import { testAdmin, testKafka, uniqueName } from './infra.ts'
import { sleep } from './wait.ts'

export interface ReadMessage {
  partition: number
  offset: string
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, string>
  timestamp: string
}

function strings(headers: KafkaMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers ?? {})) if (v !== undefined) out[k] = String(Array.isArray(v) ? v[0] : v)
  return out
}

/** Total messages on a topic (sum of high - low watermarks); 0 if it does not exist. */
export async function topicCount(topic: string): Promise<number> {
  const admin = await testAdmin()
  if (!(await admin.listTopics()).includes(topic)) return 0
  const offsets = await admin.fetchTopicOffsets(topic)
  return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0)
}

/** Every message currently on the topic (reads until the high watermarks seen at the start). */
export async function readTopic(topic: string): Promise<ReadMessage[]> {
  const expected = await topicCount(topic)
  if (expected === 0) return []
  const consumer = testKafka().consumer({ groupId: uniqueName('reader') })
  registerCleanup(() => consumer.disconnect())
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const out: ReadMessage[] = []
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      out.push({
        partition,
        offset: message.offset,
        key: message.key,
        value: message.value,
        headers: strings(message.headers),
        timestamp: message.timestamp,
      })
    },
  })
  const deadline = Date.now() + 30_000
  while (out.length < expected && Date.now() < deadline) await sleep(50)
  await consumer.disconnect()
  return out
}
