/**
 * The invariant check every fault case ends with: gathers the end state from Postgres (effects table,
 * ktask.key_queue, ktask.tasks), Kafka (the DLQ, committed offsets against partition ends, retry tiers
 * included) and the worker processes (peak RSS, ledger duplicates), then evaluates it
 * (invariant-checks.ts). Seeding goes through the recording fixture app: unique ids, 16 keys, per-key
 * sequence numbers, effects written through `ctx.tx` into a table without unique constraints.
 */
import { readFileSync } from 'node:fs'
import { tierPrefix } from '../../../src/topology/names.ts'
import { testAdmin } from '../infra.ts'
import type { SpawnedProcess } from '../processes.ts'
import type { RecordingSetup } from '../recording.ts'
import { readTopic } from '../topics.ts'
import { evaluateInvariants, type InvariantReport, type PartitionOffsets, type SeededTask, type WorkerSample } from './invariant-checks.ts'

export type { InvariantReport, SeededTask, WorkerSample } from './invariant-checks.ts'

export interface Seeded {
  tasks: SeededTask[]
  /** Tasks the fixture fails for good (FIXTURE_DEAD_EVERY): they must end in the DLQ. */
  expectedDead: string[]
  /** Tasks that fail their first attempt (FIXTURE_FAIL_EVERY): they pass a retry tier, out of key order. */
  unordered: string[]
}

/** Enqueues `count` tasks with the recording setup (n = seq = index, key k<n % keys>). */
export async function seed(
  s: RecordingSetup,
  count: number,
  o: { keys?: number; deadEvery?: number; failEvery?: number } = {},
): Promise<Seeded> {
  const keys = o.keys ?? 16
  const ids = await s.enqueue(count, keys)
  const tasks = ids.map((taskId, n) => ({ taskId, key: `k${n % keys}`, seq: n }))
  const every = (k: number | undefined, n: number): boolean => k !== undefined && n % k === 0
  return {
    tasks,
    // The fixture checks "dead" before "fails first": a task that is both is dead.
    expectedDead: tasks.filter((t) => every(o.deadEvery, t.seq)).map((t) => t.taskId),
    unordered: tasks.filter((t) => !every(o.deadEvery, t.seq) && every(o.failEvery, t.seq)).map((t) => t.taskId),
  }
}

/** Peak RSS (VmHWM) of a live process from /proc, and the ledger duplicates its stats lines reported. */
export function sampleWorker(proc: SpawnedProcess): WorkerSample {
  let peakRssBytes = 0
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))
    peakRssBytes = m ? Number(m[1]) * 1024 : 0
  } catch {
    // Exited already: 0 fails the RSS check, which names the worker.
  }
  let duplicates = 0
  for (const line of proc.json()) {
    const stats = line.stats as Record<string, number> | undefined
    if (stats && typeof stats.duplicates === 'number') duplicates = Math.max(duplicates, stats.duplicates)
  }
  return { name: proc.name, pid: proc.pid, peakRssBytes, duplicates }
}

/** Committed offset against the end of every partition of the queue topic and its retry tiers. */
async function offsets(s: RecordingSetup): Promise<PartitionOffsets[]> {
  const admin = await testAdmin()
  const topics = [s.topic, ...(await admin.listTopics()).filter((t) => t.startsWith(tierPrefix(s.topic)))]
  const out: PartitionOffsets[] = []
  for (const topic of topics) {
    const [committed] = await admin.fetchOffsets({ groupId: s.group, topics: [topic] })
    for (const p of await admin.fetchTopicOffsets(topic)) {
      const c = committed?.partitions.find((x) => x.partition === p.partition)?.offset ?? '-1'
      // Nothing committed on a partition that never held a message is the same as committed at its end.
      out.push({ topic, partition: p.partition, committed: Number(c === '-1' ? p.low : c), end: Number(p.high) })
    }
  }
  return out
}

export interface CheckOptions {
  workers: WorkerSample[]
  /** @defaultValue 512 MiB */
  rssCeilingBytes?: number
  /** The fixture ran with FIXTURE_TRACK=1. @defaultValue false */
  tracked?: boolean
}

export async function checkInvariants(s: RecordingSetup, seeded: Seeded, o: CheckOptions): Promise<InvariantReport> {
  const { rows: effects } = await s.pool.query<{ id: number; taskId: string; key: string; seq: number }>(
    `SELECT id::int AS id, task_id AS "taskId", key, seq FROM ${s.table} ORDER BY id`,
  )
  const dlq = await readTopic(`${s.topic}.dlq`)
  const { rows: kq } = await s.pool.query<{ c: number }>('SELECT count(*)::int AS c FROM ktask.key_queue WHERE group_id = $1', [s.group])
  let taskStates: Map<string, string> | undefined
  if (o.tracked) {
    const { rows } = await s.pool.query<{ task_id: string; state: string }>(
      'SELECT task_id, state FROM ktask.tasks WHERE task_id = ANY($1)',
      [seeded.tasks.map((t) => t.taskId)],
    )
    taskStates = new Map(rows.map((r) => [r.task_id, r.state]))
  }
  return evaluateInvariants({
    seeded: seeded.tasks,
    expectedDead: seeded.expectedDead,
    unordered: seeded.unordered,
    effects,
    dlqIds: dlq.map((m) => m.headers['ktask-id'] ?? `(no ktask-id: ${m.partition}/${m.offset})`),
    offsets: await offsets(s),
    keyQueueRows: kq[0]!.c,
    taskStates,
    // The fixture's dead tasks throw UnrecoverableError: refused by the handler, tracked as FAILED.
    deadState: 'FAILED',
    workers: o.workers,
    rssCeilingBytes: o.rssCeilingBytes ?? 512 * 2 ** 20,
  })
}
