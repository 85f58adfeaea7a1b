/**
 * The entries of DLQ topics kept in memory for the dashboard and `GET /v1/dlq/:queue`: the first read
 * scans a topic once, later reads only fetch what was appended since (a look at the end offsets when
 * nothing was), so a page of a DLQ with thousands of entries does not re-read the topic. Only headers
 * are kept (about 1 KiB an entry); a message's payload is read when it is shown. Which entries were
 * redriven comes from ktask.redrives on every read, so it is never stale.
 */
import type pg from 'pg'
import { readRanges } from '../kafka/read-range.ts'
import type { KafkaTransport, TransportAdmin } from '../kafka/transport.ts'
import { headersToStrings } from '../retry/headers.ts'
import { redrivenPositions } from '../store/redrives.ts'
import { entryOf, type DlqEntry } from './dlq.ts'

interface PartitionIndex {
  /** Next offset not yet read. */
  high: number
  entries: DlqEntry[]
}

export interface DlqIndexDeps {
  transport: Pick<KafkaTransport, 'consumer'>
  admin: () => Promise<TransportAdmin>
  /** Marks redriven entries; absent without a database. */
  pool?: () => pg.Pool
}

export class DlqIndex {
  readonly #deps: DlqIndexDeps
  readonly #topics = new Map<string, Map<number, PartitionIndex>>()
  /** One refresh per topic at a time: concurrent readers wait for it instead of reading the same range. */
  readonly #refreshing = new Map<string, Promise<void>>()

  constructor(deps: DlqIndexDeps) {
    this.#deps = deps
  }

  /** Every entry of the topic, by partition then offset; none when the topic does not exist (yet). */
  async entries(dlqTopic: string): Promise<DlqEntry[]> {
    const previous = this.#refreshing.get(dlqTopic) ?? Promise.resolve()
    const refresh = previous.catch(() => {}).then(() => this.#refresh(dlqTopic))
    this.#refreshing.set(dlqTopic, refresh)
    try {
      await refresh
    } finally {
      if (this.#refreshing.get(dlqTopic) === refresh) this.#refreshing.delete(dlqTopic)
    }
    const redriven = this.#deps.pool ? await redrivenPositions(this.#deps.pool(), dlqTopic) : new Set<string>()
    const partitions = [...(this.#topics.get(dlqTopic) ?? new Map<number, PartitionIndex>()).entries()].sort((a, b) => a[0] - b[0])
    return partitions.flatMap(([, p]) => p.entries.map((e) => ({ ...e, redriven: redriven.has(`${e.partition}/${e.offset}`) })))
  }

  /** The messages of a topic (end minus earliest retained offset, summed over partitions); 0 when it does not exist. */
  async size(dlqTopic: string): Promise<number> {
    const admin = await this.#deps.admin()
    if (!(await admin.listTopics()).includes(dlqTopic)) return 0
    return (await admin.topicOffsets(dlqTopic)).reduce((sum, o) => sum + o.high - o.low, 0)
  }

  async #refresh(dlqTopic: string): Promise<void> {
    const admin = await this.#deps.admin()
    if (!(await admin.listTopics()).includes(dlqTopic)) {
      this.#topics.delete(dlqTopic)
      return
    }
    const bounds = await admin.topicOffsets(dlqTopic)
    const known = this.#topics.get(dlqTopic) ?? new Map<number, PartitionIndex>()
    this.#topics.set(dlqTopic, known)
    const ranges = new Map<number, { from: number; to: number }>()
    for (const b of bounds) {
      let p = known.get(b.partition)
      // A log shorter than what was read means the topic was deleted and created again: read it afresh.
      if (!p || b.high < p.high) {
        p = { high: b.low, entries: [] }
        known.set(b.partition, p)
      }
      // Retention deleted the oldest messages: forget them too.
      if (p.entries.length > 0 && p.entries[0]!.offset < b.low) p.entries = p.entries.filter((e) => e.offset >= b.low)
      p.high = Math.max(p.high, b.low)
      if (b.high > p.high) ranges.set(b.partition, { from: p.high, to: b.high })
    }
    if (ranges.size === 0) return
    const none = new Set<string>()
    // Kept aside until the whole read succeeded: a failed read leaves the index as it was.
    const read = new Map<number, DlqEntry[]>()
    await readRanges(this.#deps.transport, dlqTopic, ranges, (partition, m) => {
      const list = read.get(partition) ?? []
      read.set(partition, list)
      list.push(entryOf(partition, m, headersToStrings(m.headers), none))
    })
    for (const [partition, r] of ranges) {
      const p = known.get(partition)!
      p.entries.push(...(read.get(partition) ?? []))
      p.high = r.to
    }
  }
}
