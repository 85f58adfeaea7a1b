/**
 * The open Server-Sent Events streams of a service (GET /v1/tasks/:id/events, GET /v1/flows/:id/events):
 * how many there may be — one cap for both kinds — how long each may last, and what each writes when the
 * shared poller of its kind reports what it follows. What a change sends is the feed's (stream-feeds.ts);
 * the rest is common: `error` once while the database is unreachable, and the stream ends when what it
 * follows is final, when its row is gone, after `maxLifetimeMs` (with a `reconnect` event: the client
 * opens a new one), or when the service closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sendError } from './errors.ts'
import type { StatusPoller, StatusUpdate } from './status-poller.ts'

export interface EventStreamLimits {
  maxStreams: number
  maxLifetimeMs: number
  /** A comment line this often keeps proxies from closing a quiet stream. @defaultValue `15_000` */
  keepAliveMs?: number
}

export interface StreamEvent {
  event: string
  data: unknown
}

/** What streams of one kind follow: how it is read, what a change sends, when it is over. */
export interface StreamFeed<S> {
  /** Reads every stream's status of this kind together. */
  readonly poller: StatusPoller<S>
  /** 'task', 'flow': what the `reconnect` event and the 404 name. */
  readonly what: string
  /** The 404 message for an id with no status. */
  unknown(id: string): string
  /** The fields that name it in the `reconnect` event (`{ taskId }`). */
  named(id: string): Record<string, string>
  /** What `current` sends after `last` (undefined: the stream's first event). */
  events(current: S, last: S | undefined): StreamEvent[]
  isFinal(status: S): boolean
}

/** The event-stream route of one feed. */
export interface FeedStreams {
  /** Answers the request with the stream of `id`: 404 when unknown, 503 when `maxStreams` are open. */
  open(id: string, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>
}

interface Stream {
  res: ServerResponse
  end(): void
}

/** What a client refused for want of a stream place is told to wait, in seconds. */
const STREAMS_FULL_RETRY_AFTER_S = 5

export class EventStreams {
  readonly #limits: Required<EventStreamLimits>
  readonly #streams = new Set<Stream>()
  readonly #pollers = new Set<{ close(): void }>()
  #places = 0
  #keepAlive: NodeJS.Timeout | undefined

  constructor(limits: EventStreamLimits) {
    this.#limits = { keepAliveMs: 15_000, ...limits }
  }

  get maxStreams(): number {
    return this.#limits.maxStreams
  }

  /** The streams of `feed`, counted against this service's cap. */
  of<S>(feed: StreamFeed<S>): FeedStreams {
    this.#pollers.add(feed.poller)
    return { open: (id, request, reply) => this.#serve(feed, id, request, reply) }
  }

  /** Ends every open stream (the service is closing: its clients reconnect elsewhere). */
  closeAll(): void {
    for (const stream of [...this.#streams]) stream.end()
    for (const poller of this.#pollers) poller.close()
  }

  async #serve<S>(feed: StreamFeed<S>, id: string, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    // The place is taken before the first read, so the cap holds under a burst.
    const release = this.#reserve()
    if (!release) {
      return sendError(reply.header('retry-after', String(STREAMS_FULL_RETRY_AFTER_S)), 503, {
        code: 'KTASK_REFUSED',
        message: `Too many open event streams (maxEventStreams = ${this.maxStreams}): retry shortly`,
      })
    }
    let first: S | null
    try {
      first = await feed.poller.load(id)
    } catch (err) {
      release()
      throw err
    }
    if (!first) {
      release()
      return sendError(reply, 404, { code: 'KTASK_NOT_FOUND', message: feed.unknown(id) })
    }
    reply.hijack()
    this.#start(feed, id, first, request.raw, reply.raw, release)
    return undefined
  }

  /** A place for one more stream (its release function), or undefined when `maxStreams` are open or starting. */
  #reserve(): (() => void) | undefined {
    if (this.#places >= this.#limits.maxStreams) return undefined
    this.#places++
    let used = false
    return () => {
      if (used) return
      used = true
      this.#places--
    }
  }

  #start<S>(feed: StreamFeed<S>, id: string, first: S, req: IncomingMessage, res: ServerResponse, release: () => void): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    let unsubscribe = (): void => {}
    let ended = false
    const lifetime = setTimeout(() => {
      write(res, {
        event: 'reconnect',
        data: { ...feed.named(id), message: `This stream reached its time limit: open a new one to keep following the ${feed.what}` },
      })
      stream.end()
    }, this.#limits.maxLifetimeMs)
    const stream: Stream = {
      res,
      end: () => {
        if (ended) return
        ended = true
        clearTimeout(lifetime)
        unsubscribe()
        this.#streams.delete(stream)
        release()
        if (this.#streams.size === 0) this.#stopKeepAlive()
        res.end()
      },
    }
    this.#streams.add(stream)
    this.#startKeepAlive()
    // The response's 'close' is the client leaving (or our own end); a client gone while the first status
    // was read must not hold its place until the lifetime runs out.
    res.on('close', () => stream.end())
    if (req.socket.destroyed) return stream.end()
    for (const event of feed.events(first, undefined)) write(res, event)
    if (feed.isFinal(first)) return stream.end()
    let last = first
    let errorSent = false
    unsubscribe = feed.poller.subscribe(id, (update: StatusUpdate<S>) => {
      if ('error' in update) {
        // The database is away: say so once, and keep following until it is back or the client leaves.
        if (!errorSent) write(res, { event: 'error', data: { message: 'status temporarily unavailable' } })
        errorSent = true
        return
      }
      errorSent = false
      const current = update.status
      if (!current) return stream.end()
      for (const event of feed.events(current, last)) write(res, event)
      last = current
      if (feed.isFinal(current)) stream.end()
    })
  }

  #startKeepAlive(): void {
    this.#keepAlive ??= setInterval(() => {
      for (const stream of this.#streams) stream.res.write(': keep-alive\n\n')
    }, this.#limits.keepAliveMs).unref()
  }

  #stopKeepAlive(): void {
    clearInterval(this.#keepAlive)
    this.#keepAlive = undefined
  }
}

function write(res: ServerResponse, { event, data }: StreamEvent): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
}
