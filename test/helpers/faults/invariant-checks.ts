/**
 * The invariants every fault case must end with, as a pure function of what was gathered at the end of
 * the run (invariants.ts gathers it from Postgres, Kafka and the worker processes). Each check says what
 * failed and names the task ids, so a red fault run points at the messages to look for in the logs.
 */

/** One seeded task: a unique id, its ordering key and its place among that key's tasks. */
export interface SeededTask {
  taskId: string
  key: string
  seq: number
}

/** One row of the effects table, in the order rows were inserted (`id`). */
export interface EffectRow {
  id: number
  taskId: string
  key: string
  seq: number
}

export interface PartitionOffsets {
  topic: string
  partition: number
  committed: number
  end: number
}

export interface WorkerSample {
  name: string
  pid: number
  /** VmHWM of the process, read just before it was stopped. */
  peakRssBytes: number
  /** Ledger duplicates the worker counted (its last stats line). */
  duplicates: number
}

export interface InvariantFacts {
  seeded: SeededTask[]
  /** Ids that must end in the DLQ (and nowhere else). */
  expectedDead: string[]
  /** Ids whose per-key order is not promised (they went through a retry tier). */
  unordered: string[]
  effects: EffectRow[]
  /** The `ktask-id` of every message on the DLQ topic. */
  dlqIds: string[]
  offsets: PartitionOffsets[]
  keyQueueRows: number
  /** task id → state in ktask.tasks; undefined when the task is not tracked. */
  taskStates?: Map<string, string>
  /** The final state of an expected-dead task: FAILED when the handler refused it, DEAD when attempts ran out. */
  deadState: 'FAILED' | 'DEAD'
  workers: WorkerSample[]
  rssCeilingBytes: number
}

export interface InvariantCheck {
  name: string
  ok: boolean
  detail: string
  /** The ids (or partitions, or workers) that break it; at most 20 listed. */
  ids?: string[]
}

export interface InvariantReport {
  ok: boolean
  numbers: {
    seeded: number
    expectedDead: number
    effects: number
    distinctEffects: number
    duplicateEffects: number
    dlq: number
    ledgerDuplicates: number
    peakRssMiB: Record<string, number>
  }
  checks: InvariantCheck[]
  /** One line per failed check, for an assertion message. */
  failures(): string
}

const LISTED = 20

function check(name: string, bad: string[], okDetail: string, badDetail: string): InvariantCheck {
  return bad.length === 0
    ? { name, ok: true, detail: okDetail }
    : { name, ok: false, detail: `${badDetail} (${bad.length})`, ids: bad.slice(0, LISTED) }
}

function counts(ids: string[]): Map<string, number> {
  const m = new Map<string, number>()
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1)
  return m
}

function effectChecks(f: InvariantFacts): InvariantCheck[] {
  const dead = new Set(f.expectedDead)
  const byId = counts(f.effects.map((e) => e.taskId))
  const seededIds = new Set(f.seeded.map((t) => t.taskId))
  const missing = f.seeded.filter((t) => !dead.has(t.taskId) && !byId.has(t.taskId)).map((t) => t.taskId)
  const unexpected = [...byId.keys()].filter((id) => dead.has(id) || !seededIds.has(id))
  const doubled = [...byId].filter(([, n]) => n > 1).map(([id, n]) => `${id} ×${n}`)
  const expected = f.seeded.length - dead.size
  return [
    check(
      'every live task has its effect',
      missing,
      `${expected} effects (seeded ${f.seeded.length} − ${dead.size} dead)`,
      'tasks without an effect',
    ),
    check('no effect for a dead or unknown task', unexpected, 'none', 'effects that should not exist'),
    check('no duplicate effect', doubled, 'each effect once', 'tasks with more than one effect'),
  ]
}

/** Among tasks whose order is promised, each key's effects were inserted in seq order. */
function orderCheck(f: InvariantFacts): InvariantCheck {
  const skip = new Set([...f.unordered, ...f.expectedDead])
  const seen = new Set<string>()
  const lastByKey = new Map<string, { seq: number; taskId: string }>()
  const bad: string[] = []
  for (const e of [...f.effects].sort((a, b) => a.id - b.id)) {
    if (skip.has(e.taskId) || seen.has(e.taskId)) continue
    seen.add(e.taskId)
    const last = lastByKey.get(e.key)
    if (last && last.seq > e.seq) bad.push(`${e.key}: ${e.taskId} (seq ${e.seq}) after ${last.taskId} (seq ${last.seq})`)
    lastByKey.set(e.key, { seq: e.seq, taskId: e.taskId })
  }
  return check('per-key order', bad, `${lastByKey.size} keys in order`, 'effects out of key order')
}

function dlqCheck(f: InvariantFacts): InvariantCheck {
  const expected = new Set(f.expectedDead)
  const got = counts(f.dlqIds)
  const bad = [
    ...f.expectedDead.filter((id) => !got.has(id)).map((id) => `${id} missing`),
    ...[...got].filter(([id]) => !expected.has(id)).map(([id]) => `${id} unexpected`),
    ...[...got].filter(([, n]) => n > 1).map(([id, n]) => `${id} ×${n}`),
  ]
  return check('DLQ holds exactly the expected ids, once', bad, `${f.dlqIds.length} dead letters`, 'DLQ differs')
}

function stateCheck(f: InvariantFacts): InvariantCheck {
  if (!f.taskStates) return { name: 'task states', ok: true, detail: 'not tracked' }
  const dead = new Set(f.expectedDead)
  const bad: string[] = []
  for (const t of f.seeded) {
    const want = dead.has(t.taskId) ? f.deadState : 'SUCCEEDED'
    const got = f.taskStates.get(t.taskId)
    if (got !== want) bad.push(`${t.taskId} ${got ?? 'no row'} (want ${want})`)
  }
  return check('task states', bad, `${f.seeded.length - dead.size} SUCCEEDED, ${dead.size} ${f.deadState}`, 'tasks in the wrong state')
}

function infraChecks(f: InvariantFacts): InvariantCheck[] {
  const behind = f.offsets.filter((o) => o.committed !== o.end).map((o) => `${o.topic}[${o.partition}] ${o.committed}/${o.end}`)
  const heavy = f.workers.filter((w) => w.peakRssBytes > f.rssCeilingBytes || w.peakRssBytes <= 0)
  const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`
  const duplicates = f.workers.reduce((s, w) => s + w.duplicates, 0)
  return [
    check('offsets committed at the end of every partition', behind, `${f.offsets.length} partitions`, 'partitions behind'),
    check('ktask.key_queue empty', f.keyQueueRows === 0 ? [] : [`${f.keyQueueRows} rows`], 'empty', 'rows left'),
    check(
      'peak RSS under the ceiling',
      heavy.map((w) => `${w.name} (pid ${w.pid}) ${mib(w.peakRssBytes)}`),
      `max ${mib(Math.max(0, ...f.workers.map((w) => w.peakRssBytes)))} ≤ ${mib(f.rssCeilingBytes)}`,
      `workers over ${mib(f.rssCeilingBytes)} (or not measured)`,
    ),
    // A case that never met the ledger proved nothing about exactly-once.
    check('duplicate path exercised', duplicates > 0 ? [] : ['0 ledger duplicates'], `${duplicates} ledger duplicates`, 'not exercised'),
  ]
}

export function evaluateInvariants(f: InvariantFacts): InvariantReport {
  const checks = [...effectChecks(f), orderCheck(f), dlqCheck(f), stateCheck(f), ...infraChecks(f)]
  const distinct = new Set(f.effects.map((e) => e.taskId)).size
  return {
    ok: checks.every((c) => c.ok),
    numbers: {
      seeded: f.seeded.length,
      expectedDead: f.expectedDead.length,
      effects: f.effects.length,
      distinctEffects: distinct,
      duplicateEffects: f.effects.length - distinct,
      dlq: f.dlqIds.length,
      ledgerDuplicates: f.workers.reduce((s, w) => s + w.duplicates, 0),
      peakRssMiB: Object.fromEntries(f.workers.map((w) => [w.name, Math.round(w.peakRssBytes / 2 ** 20)])),
    },
    checks,
    failures: () =>
      checks
        .filter((c) => !c.ok)
        .map((c) => `${c.name}: ${c.detail}${c.ids ? ` — ${c.ids.join(', ')}` : ''}`)
        .join('\n'),
  }
}
