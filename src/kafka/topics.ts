/**
 * Topic provisioning through the admin API: idempotent (existing topics are left as they are, and a
 * concurrent creation by another process is not an error).
 */
import { KtaskError } from '../errors.ts'
import type { NewTopic, TransportAdmin } from './transport.ts'

export type TopicSpec = NewTopic

export async function existingTopics(admin: Pick<TransportAdmin, 'listTopics'>): Promise<Set<string>> {
  return new Set(await admin.listTopics())
}

const CREATE_ATTEMPTS = 4

/**
 * Creates the topics that do not exist yet; returns the names it created. Retriable broker errors (a new
 * topic's metadata not everywhere yet, another process creating the same topics) are tried again.
 */
export async function ensureTopics(admin: TransportAdmin, specs: TopicSpec[]): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await createMissing(admin, specs)
    } catch (err) {
      if (attempt >= CREATE_ATTEMPTS || (err as { retriable?: unknown }).retriable !== true) throw err
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt))
    }
  }
}

async function createMissing(admin: TransportAdmin, specs: TopicSpec[]): Promise<string[]> {
  if (specs.length === 0) return []
  const existing = await existingTopics(admin)
  const missing = specs.filter((s) => !existing.has(s.topic))
  if (missing.length === 0) return []
  try {
    await admin.createTopics(missing)
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
export async function partitionCounts(
  admin: Pick<TransportAdmin, 'listTopics' | 'partitionCounts'>,
  topics: string[],
  { waitMs = 0 }: { waitMs?: number } = {},
): Promise<Map<string, number>> {
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
  return admin.partitionCounts(topics)
}
