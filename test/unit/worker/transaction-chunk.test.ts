/**
 * Chunk transactions against a fake Postgres client (no network): which statements are sent, how a
 * chunk splits around failures and its time budget, and the outcome of every message.
 */
import { EventEmitter } from 'node:events'
import type pg from 'pg'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { resolveRetryPolicy } from '../../../src/retry/policy.ts'
import type { HandlerContext } from '../../../src/config/definitions.ts'
import type { HandlerSpec } from '../../../src/routing/routes.ts'
import { Deadlines } from '../../../src/worker/deadlines.ts'
import { Envelope } from '../../../src/worker/envelope.ts'
import type { ExecItem, Outcome } from '../../../src/worker/execution.ts'
import { runChunkInTransaction, type ChunkDeps } from '../../../src/worker/transaction-chunk.ts'

const logger = pino({ level: 'silent' })
const topics = { retryTopics: new Map([[1000, 'g.retry.1s']]), dlqTopic: 'g.dlq' }

interface FakeDb {
  statements: string[]
  /** Ledger rows that exist already (their messages are duplicates). */
  applied: Set<string>
  /** Makes the next statement matching it fail with this error. */
  failNext?: { match: RegExp; error: Error & { code?: string } }
  connections: number
  discarded: number
  pool(): pg.Pool
}

function fakeDb(): FakeDb {
  const db: FakeDb = {
    statements: [],
    applied: new Set(),
    connections: 0,
    discarded: 0,
    pool: () => pool,
  }
  class FakeClient extends EventEmitter {
    processID = 42
    query(text: string, params?: unknown[]): Promise<unknown> {
      db.statements.push(text.replace(/\s+/g, ' ').trim())
      const fail = db.failNext
      if (fail && fail.match.test(text)) {
        db.failNext = undefined
        return Promise.reject(fail.error)
      }
      if (/INSERT INTO ktask\.inbox/.test(text)) {
        const ids = (params![1] as string[]).filter((id) => !db.applied.has(id))
        return Promise.resolve({ rows: ids.map((message_id) => ({ message_id })), rowCount: ids.length, command: 'INSERT' })
      }
      return Promise.resolve({ rows: [], rowCount: 0, command: text.trim().split(/\s/)[0]!.toUpperCase() })
    }
    release(err?: Error): void {
      if (err) db.discarded++
    }
  }
  const pool = {
    connect: async () => {
      db.connections++
      return new FakeClient()
    },
    query: async () => ({ rows: [], rowCount: 0 }),
  } as unknown as pg.Pool
  return db
}

function specOf(handler: (args: unknown, ctx: HandlerContext) => unknown, timeoutMs = 1000): HandlerSpec {
  return {
    kind: 'task',
    name: 't',
    queue: 'q',
    type: undefined,
    handler,
    retry: resolveRetryPolicy({ attempts: 3 }, 't'),
    timeoutMs,
    ledger: true,
    transaction: true,
    track: false,
  }
}

function items(spec: HandlerSpec, n: number): ExecItem[] {
  return Array.from({ length: n }, (_, i) => {
    const envelope = new Envelope('q', 0, { offset: String(i), key: null, value: null, headers: { 'ktask-id': `id${i}` }, timestamp: '0' })
    return { envelope, prepared: { ok: true, spec, args: i, messageId: `id${i}` } }
  })
}

function deps(db: FakeDb, idleInTransactionTimeoutMs = 60_000): ChunkDeps {
  return { pool: () => db.pool(), idleInTransactionTimeoutMs, topics, hasDatabase: true, groupId: 'g', logger, deadlines: new Deadlines() }
}

const kinds = (outcomes: (Outcome | undefined)[]) => outcomes.map((o) => (o === undefined ? undefined : o.kind === 'done' ? o.how : o.kind))

describe('runChunkInTransaction', () => {
  it('one transaction and one ledger statement for the chunk; every handler once', async () => {
    const db = fakeDb()
    const ran: number[] = []
    const spec = specOf(async (args, ctx) => {
      ran.push(args as number)
      await ctx.tx.query('INSERT INTO effects VALUES ($1)', [args])
    })
    const { outcomes } = await runChunkInTransaction(deps(db), items(spec, 3))
    expect(kinds(outcomes)).toEqual(['succeeded', 'succeeded', 'succeeded'])
    expect(ran).toEqual([0, 1, 2])
    expect(db.statements.filter((s) => s === 'BEGIN' || s === 'COMMIT')).toEqual(['BEGIN', 'COMMIT'])
    expect(db.statements.filter((s) => s.startsWith('INSERT INTO ktask.inbox'))).toHaveLength(1)
  })

  it('a failing handler is undone alone (back to its savepoint, its ledger row deleted); its neighbours run once and commit', async () => {
    const db = fakeDb()
    const ran: number[] = []
    const spec = specOf(async (args, ctx) => {
      ran.push(args as number)
      await ctx.tx.query('INSERT INTO effects VALUES ($1)', [args])
      if (args === 1) throw new Error('boom')
    })
    const { outcomes } = await runChunkInTransaction(deps(db), items(spec, 3))
    expect(kinds(outcomes)).toEqual(['succeeded', 'retry', 'succeeded'])
    expect(ran).toEqual([0, 1, 2])
    expect(db.statements).toContain('ROLLBACK TO SAVEPOINT ktask_message')
    expect(db.statements.some((s) => s.startsWith('DELETE FROM ktask.inbox'))).toBe(true)
    expect(db.statements.filter((s) => s === 'BEGIN' || s === 'COMMIT')).toEqual(['BEGIN', 'COMMIT'])
  })

  it('a message whose ledger row exists is a duplicate: its handler does not run', async () => {
    const db = fakeDb()
    db.applied.add('id1')
    const ran: number[] = []
    const { outcomes } = await runChunkInTransaction(
      deps(db),
      items(
        specOf((args) => void ran.push(args as number)),
        3,
      ),
    )
    expect(kinds(outcomes)).toEqual(['succeeded', 'duplicate', 'succeeded'])
    expect(ran).toEqual([0, 2])
  })

  it('commits and begins again before the idle-in-transaction timeout could end the transaction', async () => {
    const db = fakeDb()
    const ran: number[] = []
    // 300 ms idle timeout, 100 ms handler timeout: another handler may start while idle < 170 ms.
    const spec = specOf(async (args) => {
      ran.push(args as number)
      await new Promise((r) => setTimeout(r, 60))
    }, 100)
    const { outcomes } = await runChunkInTransaction(deps(db, 300), items(spec, 6))
    expect(kinds(outcomes)).toEqual(Array(6).fill('succeeded'))
    expect(ran).toEqual([0, 1, 2, 3, 4, 5])
    const commits = db.statements.filter((s) => s === 'COMMIT').length
    expect(commits).toBeGreaterThanOrEqual(2)
    // Ledger rows of the messages a transaction did not get to are removed before it commits.
    expect(db.statements.filter((s) => s.startsWith('DELETE FROM ktask.inbox')).length).toBe(commits - 1)
  })

  it('Postgres lost under a handler stops the chunk with a pause: nothing commits, the connection is dropped', async () => {
    const db = fakeDb()
    db.failNext = {
      match: /INSERT INTO effects/,
      error: Object.assign(new Error('Connection terminated unexpectedly'), { code: undefined }),
    }
    const ran: number[] = []
    const spec = specOf(async (args, ctx) => {
      ran.push(args as number)
      await ctx.tx.query('INSERT INTO effects VALUES ($1)', [args])
    })
    const { outcomes } = await runChunkInTransaction(deps(db), items(spec, 3))
    expect(kinds(outcomes)).toEqual(['pause', undefined, undefined])
    expect(ran).toEqual([0])
    expect(db.statements).not.toContain('COMMIT')
    expect(db.discarded).toBe(1)
  })

  it('a COMMIT the data refuses (deferred constraint) runs the chunk again one message per transaction; only the guilty one fails', async () => {
    const db = fakeDb()
    const spec = specOf(async (args, ctx) => void (await ctx.tx.query(`INSERT INTO effects VALUES (${String(args)})`)))
    let commits = 0
    const pool = db.pool()
    const connect = pool.connect.bind(pool)
    ;(pool as unknown as { connect: () => Promise<unknown> }).connect = async () => {
      const client = (await connect()) as unknown as { query: (t: string, p?: unknown[]) => Promise<unknown> }
      const query = client.query.bind(client)
      let touched2 = false
      client.query = (text: string, params?: unknown[]) => {
        if (text.includes('VALUES (2)')) touched2 = true
        if (text === 'COMMIT') {
          commits++
          if (touched2) return Promise.reject(Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' }))
        }
        return query(text, params)
      }
      return client
    }
    const { outcomes } = await runChunkInTransaction(deps(db), items(spec, 4))
    expect(kinds(outcomes)).toEqual(['succeeded', 'succeeded', 'retry', 'succeeded'])
    expect(commits).toBe(5)
  })
})
