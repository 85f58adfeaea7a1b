/**
 * The consumer of the @platformatic/kafka transport (its commits: platformatic-commit.ts). The library's
 * MessagesStream pauses only as a whole (a Node stream), so it is not used: the library keeps the group membership (join, sync, heartbeats,
 * rejoins), and this file drives the fetches itself with its `fetch()` — one request per leader broker
 * for the assigned partitions that are not paused, each from this member's own position. A paused
 * partition is simply not asked for; an answer that arrives after its partition was paused, seeked or
 * revoked is dropped and its position left where it was, so nothing is skipped and nothing fetched twice
 * is handed on.
 */
import {
  ConnectionPool,
  Consumer,
  ListOffsetTimestamps,
  type ConsumerGroupJoinPayload,
  type FetchOptions,
  type GroupAssignment,
} from '@platformatic/kafka'
import type {
  ConsumerEvents,
  ConsumerSettings,
  FetchedBatch,
  TopicPartitionOffset,
  TopicPartitions,
  TransportConsumer,
} from './transport.ts'
import { commitInGeneration } from './platformatic-commit.ts'
import { asKafkaError, hasAuthenticationError, hasKafkaError, partitionRecords, rethrowKafkaError } from './platformatic-records.ts'

/** Library client settings shared with the producer and admin (brokers, TLS, SASL, timeouts, retries). */
export type PlatformaticClientOptions = ConstructorParameters<typeof ConnectionPool>[1] & {
  clientId: string
  bootstrapBrokers: string[]
  retries?: number
  retryDelay?: number
  timeout?: number
}

type FetchRequestTopic = FetchOptions<Buffer, Buffer, Buffer, Buffer>['topics'][number]
type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>

const OFFSET_OUT_OF_RANGE = 1
/** Wait after a crash before joining again. */
const RESTART_DELAY_MS = 1000
/** How long disconnect() waits for the fetch in flight. */
const STOP_WAIT_MS = 10_000

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`

type State = 'idle' | 'joining' | 'running' | 'crashed' | 'stopped'

interface Requested {
  topic: string
  partition: number
  offset: number
  seeks: number
}

export class PlatformaticConsumer implements TransportConsumer {
  readonly #settings: ConsumerSettings
  readonly #events: ConsumerEvents
  readonly #client: Consumer
  readonly #fetchPool: ConnectionPool
  #state: State = 'idle'
  /** Bumped by every join, rebalance and crash: answers to requests of an older one are dropped. */
  #round = 0
  /** The group generation of the assignment last handed to onJoin (commits carry it). */
  #generationId = -1
  #memberId = ''
  readonly #fromBeginning = new Map<string, boolean>()
  #assigned = new Map<string, number[]>()
  /** Next offset to fetch of each assigned partition. */
  readonly #positions = new Map<string, number>()
  /** Seeks per partition: an answer to a request made before a seek is dropped. */
  readonly #seeks = new Map<string, number>()
  readonly #paused = new Set<string>()
  readonly #pausedTopics = new Set<string>()
  #wake: (() => void) | undefined
  #loop: Promise<void> | undefined
  #onBatch: ((batch: FetchedBatch) => Promise<void> | void) | undefined

  /** @param watch sees the library's consumer once (the transport logs its events) */
  constructor(
    options: PlatformaticClientOptions,
    settings: ConsumerSettings,
    events: ConsumerEvents,
    watch: (client: Consumer) => void = () => {},
  ) {
    this.#settings = settings
    this.#events = events
    this.#client = new Consumer({
      ...options,
      groupId: settings.groupId,
      autocommit: false,
      sessionTimeout: settings.sessionTimeoutMs,
      heartbeatInterval: settings.heartbeatIntervalMs,
      rebalanceTimeout: Math.max(settings.rebalanceTimeoutMs ?? settings.sessionTimeoutMs, settings.sessionTimeoutMs),
      maxWaitTime: settings.maxWaitTimeMs,
      maxBytes: settings.maxBytes ?? 10 * settings.maxBytesPerPartition,
      minBytes: 1,
    })
    // Fetches wait up to maxWaitTime on the broker: on connections of their own, so heartbeats and
    // commits never queue behind them (what the library's own streams do).
    watch(this.#client)
    this.#fetchPool = new ConnectionPool(options.clientId, options)
    this.#client.on('consumer:group:join', (payload: ConsumerGroupJoinPayload) => {
      this.#joined(payload).catch((err: unknown) => this.#crash(err))
    })
    this.#client.on('consumer:group:rebalance', () => this.#rebalancing())
    // A rejoin the library started by itself failed: it will not try again.
    this.#client.on('error', (error: unknown) => this.#crash(error))
  }

  async connect(): Promise<void> {
    await this.#client.metadata({ topics: [] }).catch(rethrowKafkaError)
  }

  async subscribe(topics: string[], fromBeginning: boolean): Promise<void> {
    for (const topic of topics) {
      this.#fromBeginning.set(topic, fromBeginning)
      this.#client.topics.track(topic)
    }
    await this.#client.metadata({ topics }).catch(rethrowKafkaError)
  }

  /**
   * Resolves once the first join is done and onJoin has been called — or, like kafkajs's run(), once a
   * failed join has been reported to onCrash (which says whether the consumer tries again by itself).
   */
  async run(onBatch: (batch: FetchedBatch) => Promise<void> | void): Promise<void> {
    this.#onBatch = onBatch
    this.#state = 'joining'
    this.#loop = this.#fetchLoop()
    try {
      await this.#join()
    } catch (err) {
      this.#crash(err)
      return
    }
    while (this.#state === 'joining') await new Promise((resolve) => setTimeout(resolve, 10))
  }

  #join(): Promise<unknown> {
    return this.#client.joinGroup({
      sessionTimeout: this.#settings.sessionTimeoutMs,
      heartbeatInterval: this.#settings.heartbeatIntervalMs,
      rebalanceTimeout: Math.max(this.#settings.rebalanceTimeoutMs ?? this.#settings.sessionTimeoutMs, this.#settings.sessionTimeoutMs),
    })
  }

  #checkRunning(): void {
    if (this.#state === 'crashed') throw new Error('the Kafka consumer is restarting after a crash')
  }

  pause(partitions: TopicPartitions[]): void {
    this.#checkRunning()
    for (const { topic, partitions: ps } of partitions) {
      if (ps === undefined) this.#pausedTopics.add(topic)
      else for (const p of ps) this.#paused.add(tpKey(topic, p))
    }
  }

  resume(partitions: TopicPartitions[]): void {
    this.#checkRunning()
    for (const { topic, partitions: ps } of partitions) {
      if (ps === undefined) {
        this.#pausedTopics.delete(topic)
        for (const key of [...this.#paused]) if (key.startsWith(`${topic}\u0000`)) this.#paused.delete(key)
      } else for (const p of ps) this.#paused.delete(tpKey(topic, p))
    }
    this.#wake?.()
  }

  seek(topic: string, partition: number, offset: number): void {
    this.#checkRunning()
    const key = tpKey(topic, partition)
    this.#seeks.set(key, (this.#seeks.get(key) ?? 0) + 1)
    this.#positions.set(key, offset)
    this.#wake?.()
  }

  #isPaused(topic: string, partition: number): boolean {
    return this.#pausedTopics.has(topic) || this.#paused.has(tpKey(topic, partition))
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return
    await commitInGeneration(
      this.#client,
      { groupId: this.#settings.groupId, generationId: this.#generationId, memberId: this.#memberId },
      offsets,
    )
  }

  async disconnect(): Promise<void> {
    const wasRunning = this.#state !== 'idle'
    this.#state = 'stopped'
    this.#round++
    this.#wake?.()
    if (this.#loop) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.#loop, new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))])
      clearTimeout(timer)
    }
    await this.#fetchPool.close().catch(() => {})
    await this.#client.close(wasRunning).catch(rethrowKafkaError)
  }

  /** The library's group join completed: find where each assigned partition starts, then tell ktask. */
  async #joined(payload: ConsumerGroupJoinPayload): Promise<void> {
    if (this.#state === 'stopped') return
    const round = ++this.#round
    this.#state = 'joining'
    const assignments: GroupAssignment[] = (payload as { assignments?: GroupAssignment[] }).assignments ?? this.#client.assignments ?? []
    const generationId = (payload as { generationId?: number }).generationId ?? this.#client.generationId
    // A partition this member keeps goes on from its own position: ktask's lane for it lives on and holds
    // everything fetched so far. (The rebalance commit usually loses the race with the library's rejoin —
    // the broker answers it after the JoinGroup, in the new generation — so the committed offset can lag
    // far behind, and starting there handed the lane again what it had done.) A partition new to this
    // member starts at the group's committed offset.
    const retained = new Map<string, number>()
    for (const { topic, partitions } of assignments) {
      for (const p of partitions) {
        const position = this.#positions.get(tpKey(topic, p))
        if (position !== undefined && this.#assigned.get(topic)?.includes(p)) retained.set(tpKey(topic, p), position)
      }
    }
    const fresh = assignments.map((a) => ({ topic: a.topic, partitions: a.partitions.filter((p) => !retained.has(tpKey(a.topic, p))) }))
    let starts: Map<string, number>
    try {
      starts = await this.#startOffsets(fresh)
    } catch (err) {
      if (round === this.#round) this.#crash(err)
      return
    }
    if (round !== this.#round || this.#state !== 'joining') return
    this.#generationId = generationId
    this.#memberId = payload.memberId
    this.#assigned = new Map(assignments.map((a) => [a.topic, [...a.partitions]]))
    this.#positions.clear()
    for (const [key, offset] of [...retained, ...starts]) this.#positions.set(key, offset)
    this.#state = 'running'
    try {
      this.#events.onJoin?.(Object.fromEntries(this.#assigned))
    } finally {
      this.#wake?.()
    }
  }

  /** Committed offsets; where there is none, the earliest or the latest by the topic's subscription. */
  async #startOffsets(assignments: GroupAssignment[]): Promise<Map<string, number>> {
    const starts = new Map<string, number>()
    const wanted = assignments.filter((a) => a.partitions.length > 0)
    if (wanted.length === 0) return starts
    const committed = await this.#client.listCommittedOffsets({ topics: wanted })
    const missing = new Map<string, number[]>()
    for (const { topic, partitions } of wanted) {
      for (const p of partitions) {
        const offset = committed.get(topic)?.[p]
        if (offset !== undefined && offset >= 0n) starts.set(tpKey(topic, p), Number(offset))
        else missing.set(topic, [...(missing.get(topic) ?? []), p])
      }
    }
    for (const [topic, partitions] of missing) {
      for (const [p, offset] of await this.#resetOffsets(topic, partitions)) starts.set(tpKey(topic, p), offset)
    }
    return starts
  }

  /** The earliest or latest offset of partitions, as the topic was subscribed (`fromBeginning`). */
  async #resetOffsets(topic: string, partitions: number[]): Promise<Map<number, number>> {
    const timestamp = this.#fromBeginning.get(topic) ? ListOffsetTimestamps.EARLIEST : ListOffsetTimestamps.LATEST
    const offsets = await this.#client.listOffsets({ topics: [topic], partitions: { [topic]: partitions }, timestamp })
    const out = new Map<number, number>()
    for (const p of partitions) out.set(p, Number(offsets.get(topic)?.[p] ?? 0n))
    return out
  }

  #rebalancing(): void {
    if (this.#state !== 'running') return
    this.#round++
    this.#state = 'joining'
    this.#events.onRebalancing?.()
  }

  #crash(error: unknown): void {
    if (this.#state === 'stopped' || this.#state === 'crashed') return
    this.#round++
    this.#state = 'crashed'
    this.#positions.clear()
    this.#assigned = new Map()
    const err = asKafkaError(error) as { code?: unknown; retriable?: unknown }
    // As kafkajs: a retriable error (connection, leadership, a deleted topic) is tried again; anything
    // else (a refused session timeout, failed authentication, a bug) ends the consumer.
    const restart = err.retriable === true && err.code !== 'PLT_KFK_AUTHENTICATION' && !hasAuthenticationError(err)
    this.#events.onCrash?.(err, restart)
    if (!restart) {
      this.#state = 'stopped'
      return
    }
    setTimeout(() => {
      if (this.#state !== 'crashed') return
      this.#state = 'joining'
      this.#client.clearMetadata()
      this.#join().catch((e: unknown) => {
        if (this.#state === 'joining') {
          this.#state = 'running'
          this.#crash(e)
        }
      })
    }, RESTART_DELAY_MS).unref()
  }

  async #idle(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await new Promise<void>((resolve) => {
      this.#wake = resolve
      timer = setTimeout(resolve, ms)
    })
    clearTimeout(timer)
    this.#wake = undefined
  }

  /** The fetchable partitions: assigned, with a position, not paused. */
  #wanted(): Requested[] {
    const out: Requested[] = []
    for (const [topic, partitions] of this.#assigned) {
      for (const partition of partitions) {
        const key = tpKey(topic, partition)
        const offset = this.#positions.get(key)
        if (offset === undefined || this.#isPaused(topic, partition)) continue
        out.push({ topic, partition, offset, seeks: this.#seeks.get(key) ?? 0 })
      }
    }
    return out
  }

  async #fetchLoop(): Promise<void> {
    while (this.#state !== 'stopped') {
      const wanted = this.#state === 'running' ? this.#wanted() : []
      if (wanted.length === 0) {
        await this.#idle(this.#settings.maxWaitTimeMs)
        continue
      }
      const round = this.#round
      try {
        await this.#fetchOnce(round, wanted)
      } catch (err) {
        if (round === this.#round && this.#state === 'running') await this.#onFetchError(err)
      }
    }
  }

  async #fetchOnce(round: number, wanted: Requested[]): Promise<void> {
    const topics = [...new Set(wanted.map((w) => w.topic))]
    const metadata = await this.#client.metadata({ topics })
    const byNode = new Map<number, Map<string, FetchRequestTopic>>()
    const requested = new Map<string, Requested>()
    const names = new Map<string, string>()
    for (const w of wanted) {
      const topic = metadata.topics.get(w.topic)
      const leader = topic?.partitions[w.partition]?.leader
      if (!topic || leader === undefined || leader < 0) continue
      names.set(topic.id, w.topic)
      let node = byNode.get(leader)
      if (!node) byNode.set(leader, (node = new Map<string, FetchRequestTopic>()))
      let t = node.get(topic.id)
      if (!t) node.set(topic.id, (t = { topicId: topic.id, partitions: [] }))
      t.partitions.push({
        partition: w.partition,
        fetchOffset: BigInt(w.offset),
        partitionMaxBytes: this.#settings.maxBytesPerPartition,
        currentLeaderEpoch: -1,
        lastFetchedEpoch: -1,
      })
      requested.set(tpKey(w.topic, w.partition), w)
    }
    if (byNode.size === 0) {
      this.#client.clearMetadata()
      await this.#idle(this.#settings.maxWaitTimeMs)
      return
    }
    const responses = await Promise.all(
      [...byNode].map(([node, topicMap]) =>
        this.#client.fetch({
          node,
          topics: [...topicMap.values()],
          maxWaitTime: this.#settings.maxWaitTimeMs,
          maxBytes: this.#settings.maxBytes ?? 10 * this.#settings.maxBytesPerPartition,
          minBytes: 1,
          connectionPool: this.#fetchPool,
        }),
      ),
    )
    for (const response of responses) await this.#deliver(round, response, names, requested)
  }

  async #deliver(round: number, response: FetchResponse, names: Map<string, string>, requested: Map<string, Requested>): Promise<void> {
    for (const topicResponse of response.responses) {
      // Fetch v12 and older answer by name, later versions by topic id.
      const topic = names.get(topicResponse.topicId) ?? topicResponse.topicId
      for (const p of topicResponse.partitions) {
        const key = tpKey(topic, p.partitionIndex)
        const req = requested.get(key)
        if (!req || p.errorCode !== 0) continue
        if (!this.#current(round, req)) continue
        const { messages, lastOffset } = partitionRecords(p.records, req.offset)
        if (lastOffset === undefined) continue
        const batch: FetchedBatch = {
          topic,
          partition: p.partitionIndex,
          messages,
          fetchedOffset: req.offset,
          lastOffset,
          highWatermark: Number(p.highWatermark),
          heartbeat: async () => {},
          isRunning: () => round === this.#round && this.#state === 'running',
        }
        await this.#onBatch?.(batch)
        // A seek during the batch wins over the batch's end.
        if (round === this.#round && (this.#seeks.get(key) ?? 0) === req.seeks) this.#positions.set(key, lastOffset + 1)
      }
    }
  }

  /** The answer for `req` may still be handed on: same round, no seek since, not paused, position unmoved. */
  #current(round: number, req: Requested): boolean {
    const key = tpKey(req.topic, req.partition)
    return (
      round === this.#round &&
      this.#state === 'running' &&
      (this.#seeks.get(key) ?? 0) === req.seeks &&
      this.#positions.get(key) === req.offset &&
      !this.#isPaused(req.topic, req.partition)
    )
  }

  async #onFetchError(err: unknown): Promise<void> {
    const response = (err as { response?: FetchResponse }).response
    if (hasKafkaError(err, 'OFFSET_OUT_OF_RANGE') && response) {
      try {
        await this.#resetOutOfRange(response)
        return
      } catch (resetError) {
        this.#crash(resetError)
        return
      }
    }
    this.#crash(err)
  }

  /** Partitions whose position is outside the log start over at its start or end (by `fromBeginning`). */
  async #resetOutOfRange(response: FetchResponse): Promise<void> {
    const round = this.#round
    const metadata = await this.#client.metadata({ topics: [...this.#assigned.keys()] })
    const names = new Map([...metadata.topics].map(([name, t]) => [t.id, name]))
    for (const topicResponse of response.responses) {
      const topic = names.get(topicResponse.topicId) ?? topicResponse.topicId
      const partitions = topicResponse.partitions.filter((p) => p.errorCode === OFFSET_OUT_OF_RANGE).map((p) => p.partitionIndex)
      if (partitions.length === 0) continue
      const offsets = await this.#resetOffsets(topic, partitions)
      if (round !== this.#round) return
      for (const [p, offset] of offsets) this.#positions.set(tpKey(topic, p), offset)
    }
  }
}
