/**
 * Topic provisioning through the admin API: idempotent (existing topics are left as they are, and a
 * concurrent creation by another process is not an error).
 */
import type { Admin, ITopicConfig } from 'kafkajs'
import { kafkajs } from './kafkajs.ts'
import { KtaskError } from '../errors.ts'

export interface TopicSpec {
  topic: string
  partitions: number
  replicationFactor: number
  configs?: Record<string, string>
}

export async function existingTopics(admin: Admin): Promise<Set<string>> {
  return new Set(await admin.listTopics())
}

const CREATE_ATTEMPTS = 4

/**
 * Creates the topics that do not exist yet; returns the names it created. Retriable broker errors (a new
 * topic's metadata not everywhere yet, another process creating the same topics) are tried again.
 */
export async function ensureTopics(admin: Admin, specs: TopicSpec[]): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await createMissing(admin, specs)
    } catch (err) {
      if (attempt >= CREATE_ATTEMPTS || (err as { retriable?: unknown }).retriable !== true) throw err
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt))
    }
  }
}

async function createMissing(admin: Admin, specs: TopicSpec[]): Promise<string[]> {
  if (specs.length === 0) return []
  const existing = await existingTopics(admin)
  const missing = specs.filter((s) => !existing.has(s.topic))
  if (missing.length === 0) return []
  const topics: ITopicConfig[] = missing.map((s) => ({
    topic: s.topic,
    numPartitions: s.partitions,
    replicationFactor: s.replicationFactor,
    configEntries: Object.entries(s.configs ?? {}).map(([name, value]) => ({ name, value })),
  }))
  try {
    await admin.createTopics({ topics, waitForLeaders: true })
  } catch (err) {
    // TOPIC_ALREADY_EXISTS from a concurrent creator is fine; anything else is not.
    const nested = (err as { errors?: { type?: string }[] }).errors ?? []
    if (!(nested.length > 0 && nested.every((e) => e.type === 'TOPIC_ALREADY_EXISTS'))) throw err
  }
  return missing.map((s) => s.topic)
}

/**
 * Partition count of each topic; throws KTASK_NOT_FOUND naming a topic that does not exist. A topic
 * created a moment ago (by this process or another) can be missing from the broker's metadata for a
 * while — in KRaft the brokers learn of it after the controller — so absent topics are looked up again
 * for up to `waitMs`.
 */
export async function partitionCounts(admin: Admin, topics: string[], { waitMs = 0 }: { waitMs?: number } = {}): Promise<Map<string, number>> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const existing = await existingTopics(admin)
    const absent = topics.filter((t) => !existing.has(t))
    if (absent.length === 0) break
    if (Date.now() >= deadline) {
      throw new KtaskError('KTASK_NOT_FOUND', `Topic ${absent.map((t) => `"${t}"`).join(', ')} does not exist`, { topics: absent })
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics })
  return new Map(metadata.map((t) => [t.name, t.partitions.length]))
}

/** Config values a topic sets itself (not inherited from the broker), among `names`. */
export async function topicOverrides(admin: Admin, topic: string, names: string[]): Promise<Record<string, string>> {
  const { resources } = await admin.describeConfigs({
    resources: [{ type: kafkajs().ConfigResourceTypes.TOPIC, name: topic, configNames: names }], includeSynonyms: false,
  })
  const out: Record<string, string> = {}
  for (const e of resources[0]?.configEntries ?? []) if (!e.isDefault) out[e.configName] = e.configValue
  return out
}
