/**
 * Creating a route's topics — one way for workers and `app.provision()`: the source topic of a queue,
 * then the route's retry tiers and DLQ with their configs (configs.ts), the same partition count as the
 * source so a key keeps its partition number across hops.
 */
import { KtaskError, infrastructureError, isKtaskError } from '../errors.ts'
import { existingTopics, partitionCounts, type TopicSpec } from '../kafka/topics.ts'
import type { TransportAdmin } from '../kafka/transport.ts'
import { dlqConfigs, tierConfigs, type SourceTopicConfig } from './configs.ts'
import { tierDelayOf, tierPrefix } from './names.ts'

/** The part of a route provisioning needs. */
export interface RouteTopology {
  kind: 'queue' | 'consumer'
  groupId: string
  sourceTopic: string
  /** Base of the owned topics (`<base>.retry.*`, `<base>.dlq`). */
  base: string
  retryTopics: ReadonlyMap<number, string>
  dlqTopic: string
  /** Partitions of a queue's source topic (consumer routes read the source topic's). */
  partitions: number | undefined
  replicationFactor: number
}

export interface ProvisionDeps {
  admin(): Promise<TransportAdmin>
  /** Creates the topics that are missing (idempotent). */
  ensureTopics(specs: TopicSpec[]): Promise<void>
}

export interface ProvisionedRoute {
  /** The current tiers plus tiers of an earlier retry policy that still exist (they may hold messages). */
  tiers: string[]
  /** How each owned topic (tiers, DLQ, a queue's source) is created, e.g. again when it was deleted while running. */
  ownedSpecs: Map<string, TopicSpec>
  /** Partition counts of the owned topics. */
  ownedPartitions: Map<string, number>
}

/** A queue's topic was just ensured (maybe by another process): give the metadata time to show it. */
const TOPIC_METADATA_WAIT_MS = 15_000

export async function provisionRoute(deps: ProvisionDeps, route: RouteTopology): Promise<ProvisionedRoute> {
  const admin = await deps.admin()
  if (route.kind === 'queue') {
    await deps.ensureTopics([{ topic: route.sourceTopic, partitions: route.partitions!, replicationFactor: route.replicationFactor }])
  }
  let partitions: number
  let source: SourceTopicConfig
  try {
    const waitMs = route.kind === 'queue' ? TOPIC_METADATA_WAIT_MS : 0
    partitions = (await partitionCounts(admin, [route.sourceTopic], { waitMs })).get(route.sourceTopic)!
    const overrides = await admin.topicOverrides(route.sourceTopic, ['max.message.bytes'])
    source = { maxMessageBytes: overrides['max.message.bytes'] }
  } catch (err) {
    if (isKtaskError(err, 'KTASK_NOT_FOUND')) {
      throw new KtaskError('KTASK_NOT_FOUND', `Consumer "${route.groupId}": topic "${route.sourceTopic}" does not exist`, {
        field: 'topic',
        cause: err,
      })
    }
    throw infrastructureError('kafka', err)
  }
  const ownedSpecs = new Map<string, TopicSpec>()
  for (const [delay, topic] of route.retryTopics) {
    ownedSpecs.set(topic, { topic, partitions, replicationFactor: route.replicationFactor, configs: tierConfigs(delay, source) })
  }
  ownedSpecs.set(route.dlqTopic, {
    topic: route.dlqTopic,
    partitions,
    replicationFactor: route.replicationFactor,
    configs: dlqConfigs(source),
  })
  await deps.ensureTopics([...ownedSpecs.values()])
  const prefix = tierPrefix(route.base)
  const all = await existingTopics(admin)
  const tiers = [...new Set([...route.retryTopics.values(), ...[...all].filter((t) => t.startsWith(prefix))])]
  // A tier of an earlier policy is subscribed to as well: deleted while running, it is created again too
  // (kafkajs cannot drop a topic from a running subscription, and a missing one crashes it in a loop).
  for (const topic of tiers) {
    if (!ownedSpecs.has(topic)) {
      ownedSpecs.set(topic, {
        topic,
        partitions,
        replicationFactor: route.replicationFactor,
        configs: tierConfigs(tierDelayOf(topic, route.base) ?? 0, source),
      })
    }
  }
  if (route.kind === 'queue')
    ownedSpecs.set(route.sourceTopic, { topic: route.sourceTopic, partitions, replicationFactor: route.replicationFactor })
  const ownedPartitions = await partitionCounts(admin, [...route.retryTopics.values(), route.dlqTopic], { waitMs: TOPIC_METADATA_WAIT_MS })
  return { tiers, ownedSpecs, ownedPartitions }
}
