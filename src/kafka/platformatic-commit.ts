/**
 * Offset commits of the @platformatic/kafka consumer (platformatic-consumer.ts), straight through the
 * OffsetCommit API with the generation of the assignment ktask was told about (onJoin). The library's own
 * `commit()` rejoins the group when the generation is stale and commits again in the new one — for
 * partitions that may belong to another member by then, past what their new owner has done. Here a stale
 * generation is refused by the broker (ILLEGAL_GENERATION), which ktask treats as routine: the lanes that
 * stay its own commit again after the rejoin.
 */
import { kGetApi, kGetConnection, type Consumer } from '@platformatic/kafka'
import type { TopicPartitionOffset } from './transport.ts'
import { asKafkaError } from './platformatic-records.ts'

export interface GroupMembership {
  groupId: string
  generationId: number
  memberId: string
}

interface OffsetCommitRequestTopic {
  name: string
  partitions: { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: null }[]
}

type Sendable = (...args: unknown[]) => void
type ApiGetter = (name: string, cb: (error: Error | null, api: Sendable) => void) => void
type ConnectionGetter = (broker: unknown, cb: (error: Error | null, connection: unknown) => void) => void

function requestTopics(offsets: TopicPartitionOffset[]): OffsetCommitRequestTopic[] {
  const topics = new Map<string, OffsetCommitRequestTopic>()
  for (const o of offsets) {
    let t = topics.get(o.topic)
    if (!t) topics.set(o.topic, (t = { name: o.topic, partitions: [] }))
    t.partitions.push({ partitionIndex: o.partition, committedOffset: BigInt(o.offset), committedLeaderEpoch: -1, committedMetadata: null })
  }
  return [...topics.values()]
}

/** Commits `offsets` for `member`; a partition the broker refuses fails the whole commit. */
export async function commitInGeneration(client: Consumer, member: GroupMembership, offsets: TopicPartitionOffset[]): Promise<void> {
  const topics = requestTopics(offsets)
  try {
    const coordinator = await client.findGroupCoordinator()
    const metadata = await client.metadata({ topics: topics.map((t) => t.name) })
    // The library's connection cache and API version negotiation, through the symbols it exports.
    const internals = client as unknown as Record<symbol, unknown>
    const connection = await new Promise<unknown>((resolve, reject) =>
      (internals[kGetConnection] as ConnectionGetter).call(client, metadata.brokers.get(coordinator), (e, c) =>
        e ? reject(e) : resolve(c),
      ),
    )
    const api = await new Promise<Sendable>((resolve, reject) =>
      (internals[kGetApi] as ApiGetter).call(client, 'OffsetCommit', (e, a) => (e ? reject(e) : resolve(a))),
    )
    const response = await new Promise<{ topics: { partitions: { errorCode: number }[] }[] }>((resolve, reject) =>
      api(connection, member.groupId, member.generationId, member.memberId, null, topics, (e: Error | null, r: never) =>
        e ? reject(e) : resolve(r),
      ),
    )
    const failed = response.topics.flatMap((t) => t.partitions).find((p) => p.errorCode !== 0)
    if (failed) throw new Error(`offset commit refused (error code ${failed.errorCode})`)
  } catch (err) {
    throw asKafkaError(err)
  }
}
