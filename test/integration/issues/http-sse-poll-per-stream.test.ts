/**
 * Defect (Hardening #2): every open event stream polled Postgres on its own (`app.status()` every
 * ssePollMs), so ~100 clients following tasks took every connection of the app's pool and everything
 * else waited behind them; streams had no cap and no end but the task's. Streams now share one query per
 * poll, their number is capped (503 with Retry-After beyond it), a stream ends after eventStreamMaxMs
 * (the client reconnects), and closing the service ends the streams instead of waiting for them.
 */
import { request, type IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { internals } from '../../../src/app/internals.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { startHttpService } from '../../helpers/http-service.ts'
import { sleep, waitFor } from '../../helpers/wait.ts'

interface OpenStream {
  status: number
  headers: IncomingMessage['headers']
  /** Event names received so far, in order, with their data. */
  events: { event: string; data: Record<string, unknown> }[]
  ended: Promise<void>
  close(): void
}

/** Opens an event stream and keeps reading it in the background. */
function openStream(address: string, path: string): Promise<OpenStream> {
  const url = new URL(address)
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path }, (res) => {
      const events: OpenStream['events'] = []
      let buffer = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        const blocks = buffer.split('\n\n')
        buffer = blocks.pop()!
        for (const block of blocks) {
          const event = /^event: (.*)$/m.exec(block)?.[1]
          const data = /^data: (.*)$/m.exec(block)?.[1]
          if (event && data) events.push({ event, data: JSON.parse(data) as Record<string, unknown> })
        }
      })
      const ended = new Promise<void>((done) => {
        res.on('end', done)
        res.on('close', done)
      })
      resolve({ status: res.statusCode ?? 0, headers: res.headers, events, ended, close: () => req.destroy() })
    })
    req.on('error', reject)
    req.end()
    registerCleanup(() => req.destroy())
  })
}

/** Connections the pool has handed out at once (at most), and requests that had to wait for one. */
function watchPool(pool: { on(event: 'acquire' | 'release', listener: () => void): unknown; waitingCount: number }) {
  const seen = { inUse: 0, maxInUse: 0, maxWaiting: 0 }
  pool.on('acquire', () => {
    seen.inUse++
    seen.maxInUse = Math.max(seen.maxInUse, seen.inUse)
    seen.maxWaiting = Math.max(seen.maxWaiting, pool.waitingCount)
  })
  pool.on('release', () => void seen.inUse--)
  return seen
}

describe('event streams', () => {
  it('150 clients following a task share one Postgres poll: the pool is not exhausted and every stream sees the task finish', async () => {
    const { app, address, task } = await startHttpService()
    const { taskId } = await task.enqueue({ customer: 'acme', months: 1 })
    const pool = watchPool(internals(app).runtime.pool())

    const streams = await Promise.all(Array.from({ length: 150 }, () => openStream(address, `/v1/tasks/${taskId}/events`)))
    expect(streams.map((s) => s.status)).toEqual(streams.map(() => 200))
    await waitFor(() => streams.every((s) => s.events.length > 0), { message: 'the first event on every stream' })
    // Several polls happen while all of them are open.
    await sleep(1500)
    const status = await fetch(`${address}/v1/tasks/${taskId}`)
    expect(status.status).toBe(200)
    expect({ maxInUse: pool.maxInUse, maxWaiting: pool.maxWaiting }).toEqual({ maxInUse: expect.any(Number), maxWaiting: 0 })
    expect(pool.maxInUse).toBeLessThanOrEqual(2)

    await app.worker().start()
    await Promise.all(streams.map((s) => s.ended))
    expect(streams.map((s) => s.events.filter((e) => e.event === 'state').at(-1)?.data.state)).toEqual(streams.map(() => 'SUCCEEDED'))
  })

  it('beyond maxEventStreams a client gets 503 with Retry-After; a closed stream frees its place', async () => {
    const { address, task } = await startHttpService({ http: { maxEventStreams: 3 } })
    const { taskId } = await task.enqueue({ customer: 'acme', months: 1 })
    const open = await Promise.all([1, 2, 3].map(() => openStream(address, `/v1/tasks/${taskId}/events`)))
    expect(open.map((s) => s.status)).toEqual([200, 200, 200])
    const refused = await fetch(`${address}/v1/tasks/${taskId}/events`)
    expect(refused.status).toBe(503)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await refused.json()).toMatchObject({ message: expect.stringMatching(/maxEventStreams/) })
    open[0]!.close()
    const again = await waitFor(
      async () => {
        const s = await openStream(address, `/v1/tasks/${taskId}/events`)
        if (s.status === 200) return s
        s.close()
        return undefined
      },
      { message: 'a free place after one stream closed' },
    )
    expect(again.status).toBe(200)
  })

  it('a stream ends after eventStreamMaxMs with a `reconnect` event, though its task is not final', async () => {
    const { address, task } = await startHttpService({ http: { eventStreamMaxMs: 1000 } })
    const { taskId } = await task.enqueue({ customer: 'acme', months: 1 })
    const res = await fetch(`${address}/v1/tasks/${taskId}/events`, { signal: AbortSignal.timeout(20_000) })
    const text = await res.text()
    const events = text
      .split('\n\n')
      .map((block) => /^event: (.*)$/m.exec(block)?.[1])
      .filter(Boolean)
    expect(events[0]).toBe('state')
    expect(events.at(-1)).toBe('reconnect')
  })

  it('closing the service ends its open streams instead of waiting for them', async () => {
    const { http, address, task } = await startHttpService()
    const { taskId } = await task.enqueue({ customer: 'acme', months: 1 })
    const stream = await openStream(address, `/v1/tasks/${taskId}/events`)
    await waitFor(() => stream.events.length > 0, { message: 'the first event' })
    const closed = await Promise.race([http.close().then(() => 'closed'), sleep(15_000).then(() => 'still open after 15 s')])
    expect(closed).toBe('closed')
    await stream.ended
  })
})
