/**
 * A TCP proxy that injects network faults between a client and one server (a Kafka broker's client
 * listener, Postgres, the registry), switchable while connections are open:
 *   pass       bytes flow as they arrive
 *   reset      every open connection is reset (RST), and every new one as soon as it is accepted
 *   blackhole  connections are accepted, bytes are dropped; a connection that lost bytes is reset when
 *              the blackhole ends, because its byte stream is no longer intact (as a real partition that
 *              outlives TCP's retransmissions ends)
 *   latency    every chunk is held `ms` before it is passed on (order kept)
 *   throttle   at most `bytesPerSecond` per connection and direction
 * Faults can apply to one direction (`toTarget`: requests, `toClient`: responses) or both.
 *
 * Our own, on node:net, rather than toxiproxy (a Go binary and its HTTP API to run beside every test)
 * or an npm proxy library (none found that is maintained and switches faults on open connections):
 * the whole behaviour is this file, and the tests drive it in-process.
 */
import net from 'node:net'

export type Direction = 'both' | 'toTarget' | 'toClient'

export type ProxyMode =
  | { mode: 'pass' }
  | { mode: 'reset' }
  | { mode: 'blackhole'; direction?: Direction }
  | { mode: 'latency'; ms: number; direction?: Direction }
  | { mode: 'throttle'; bytesPerSecond: number; direction?: Direction }

export interface FaultProxyOptions {
  targetPort: number
  /** @defaultValue '127.0.0.1' */
  targetHost?: string
  /** Port to listen on; 0 picks a free one. @defaultValue 0 */
  listenPort?: number
  /** @defaultValue '127.0.0.1' */
  listenHost?: string
  /** @defaultValue { mode: 'pass' } */
  mode?: ProxyMode
}

export interface FaultProxy {
  readonly port: number
  readonly target: string
  mode(): ProxyMode
  /** Takes effect at once, on open connections too. */
  setMode(mode: ProxyMode): void
  /** Open client connections. */
  connections(): number
  /** Bytes passed on so far, per direction. */
  bytes(): { toTarget: number; toClient: number }
  close(): Promise<void>
}

/** Above this many held bytes a direction stops reading from its source until it drains. */
const HIGH_WATER = 1 << 20

interface Connection {
  client: net.Socket
  upstream: net.Socket
  /** Bytes were dropped by a blackhole: the stream cannot be resumed. */
  lostBytes: boolean
  pipes: Pipe[]
}

interface ProxyView {
  mode(): ProxyMode
  count(direction: Exclude<Direction, 'both'>, n: number): void
}

function applies(mode: ProxyMode, direction: Exclude<Direction, 'both'>): boolean {
  if (mode.mode === 'pass' || mode.mode === 'reset') return false
  const d = mode.direction ?? 'both'
  return d === 'both' || d === direction
}

/** One direction of one connection: chunks wait in order until their release time. */
class Pipe {
  readonly #queue: { chunk: Buffer; at: number }[] = []
  #held = 0
  #lastAt = 0
  #timer: NodeJS.Timeout | undefined
  #ended = false
  readonly from: net.Socket
  readonly to: net.Socket
  readonly direction: Exclude<Direction, 'both'>
  readonly proxy: ProxyView
  readonly conn: Connection

  constructor(from: net.Socket, to: net.Socket, direction: Exclude<Direction, 'both'>, proxy: ProxyView, conn: Connection) {
    this.from = from
    this.to = to
    this.direction = direction
    this.proxy = proxy
    this.conn = conn
    from.on('data', (chunk: Buffer) => this.#accept(chunk))
    // A half-close is passed on once what is still held has gone out.
    from.on('end', () => {
      this.#ended = true
      this.#flush()
    })
  }

  #accept(chunk: Buffer): void {
    const mode = this.proxy.mode()
    const faulty = applies(mode, this.direction)
    if (faulty && mode.mode === 'blackhole') {
      this.conn.lostBytes = true
      return
    }
    const now = Date.now()
    if (faulty && mode.mode === 'throttle') {
      // Slices of ~50 ms each, so a large chunk trickles instead of arriving late in one piece.
      const slice = Math.max(1, Math.floor(mode.bytesPerSecond / 20))
      for (let i = 0; i < chunk.length; i += slice) {
        const part = chunk.subarray(i, i + slice)
        this.#push(part, Math.max(now, this.#lastAt) + (part.length / mode.bytesPerSecond) * 1000)
      }
    } else {
      this.#push(chunk, Math.max(now + (faulty && mode.mode === 'latency' ? mode.ms : 0), this.#lastAt))
    }
    this.#flush()
  }

  #push(chunk: Buffer, at: number): void {
    this.#lastAt = at
    this.#queue.push({ chunk, at })
    this.#held += chunk.length
    if (this.#held > HIGH_WATER) this.from.pause()
  }

  #flush(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const now = Date.now()
    while (this.#queue.length > 0 && this.#queue[0]!.at <= now) {
      const { chunk } = this.#queue.shift()!
      this.#held -= chunk.length
      if (!this.to.destroyed) this.to.write(chunk)
      this.proxy.count(this.direction, chunk.length)
    }
    if (this.#held <= HIGH_WATER / 2 && this.from.isPaused()) this.from.resume()
    if (this.#queue.length > 0) this.#timer = setTimeout(() => this.#flush(), this.#queue[0]!.at - now)
    else if (this.#ended && !this.to.destroyed) this.to.end()
  }

  stop(): void {
    clearTimeout(this.#timer)
    this.#queue.length = 0
  }
}

function reset(conn: Connection): void {
  for (const p of conn.pipes) p.stop()
  for (const s of [conn.client, conn.upstream]) if (!s.destroyed) s.resetAndDestroy()
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const targetHost = options.targetHost ?? '127.0.0.1'
  let current: ProxyMode = options.mode ?? { mode: 'pass' }
  const open = new Set<Connection>()
  const bytes = { toTarget: 0, toClient: 0 }
  const view: ProxyView = { mode: () => current, count: (d: 'toTarget' | 'toClient', n: number) => void (bytes[d] += n) }

  const server = net.createServer((client) => {
    if (current.mode === 'reset') {
      client.resetAndDestroy()
      return
    }
    const upstream = net.connect({ host: targetHost, port: options.targetPort })
    const conn: Connection = { client, upstream, lostBytes: false, pipes: [] }
    conn.pipes.push(new Pipe(client, upstream, 'toTarget', view, conn), new Pipe(upstream, client, 'toClient', view, conn))
    open.add(conn)
    for (const s of [client, upstream]) {
      s.setNoDelay(true)
      // A side that fails is passed on as a reset, so the client sees what it would see without us.
      s.on('error', () => {
        open.delete(conn)
        reset(conn)
      })
      s.on('close', () => {
        if (!open.delete(conn)) return
        for (const p of conn.pipes) p.stop()
        client.destroy()
        upstream.destroy()
      })
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.listenPort ?? 0, options.listenHost ?? '127.0.0.1', () => resolve())
  })
  const port = (server.address() as net.AddressInfo).port

  return {
    port,
    target: `${targetHost}:${options.targetPort}`,
    mode: () => current,
    setMode(next) {
      const leavingBlackhole = current.mode === 'blackhole' && next.mode !== 'blackhole'
      current = next
      for (const conn of [...open]) {
        if (next.mode === 'reset' || (leavingBlackhole && conn.lostBytes)) {
          open.delete(conn)
          reset(conn)
        }
      }
    },
    connections: () => open.size,
    bytes: () => ({ ...bytes }),
    close: async () => {
      for (const conn of open) reset(conn)
      open.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
