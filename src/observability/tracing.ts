/**
 * OpenTelemetry through its API only (`@opentelemetry/api`): without an SDK registered by the user every
 * call here is a no-op. Contexts cross Kafka as W3C `traceparent` / `tracestate` headers, written and read
 * here directly, so they do not depend on which propagator the user's SDK configured.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  createTraceState,
  isSpanContextValid,
  trace,
  type Context,
  type Span,
  type Tracer,
  type TracerProvider,
  ProxyTracerProvider,
} from '@opentelemetry/api'
import { errorLine } from '../retry/headers.ts'

export const TRACEPARENT = 'traceparent'
export const TRACESTATE = 'tracestate'

/** The active span's context as W3C headers; none without an active (valid) span. */
export function traceHeaders(active: Context = context.active()): Record<string, string> {
  const sc = trace.getSpanContext(active)
  if (!sc || !isSpanContextValid(sc)) return {}
  const headers: Record<string, string> = {
    [TRACEPARENT]: `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`,
  }
  const state = sc.traceState?.serialize()
  if (state) headers[TRACESTATE] = state
  return headers
}

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/

/**
 * The remote parent a message's headers carry (ROOT_CONTEXT when they carry none, or a malformed one: a
 * bad header never fails a message, its span just starts a new trace).
 */
export function contextFromHeaders(headers: Readonly<Record<string, string | undefined>>): Context {
  const m = TRACEPARENT_RE.exec(headers[TRACEPARENT]?.trim().toLowerCase() ?? '')
  if (!m || m[1] === 'ff' || (m[1] === '00' && m[0].length !== 55)) return ROOT_CONTEXT
  const sc = {
    traceId: m[2]!,
    spanId: m[3]!,
    traceFlags: parseInt(m[4]!, 16),
    isRemote: true,
    ...(headers[TRACESTATE] ? { traceState: createTraceState(headers[TRACESTATE]) } : {}),
  }
  return isSpanContextValid(sc) ? trace.setSpanContext(ROOT_CONTEXT, sc) : ROOT_CONTEXT
}

/** What a consumer span says of the message it processes (OpenTelemetry messaging conventions). */
export interface ConsumedMessage {
  topic: string
  partition: number
  offset: string
  group: string
  messageId: string
  /** The task's name, or the consumer's group id for events. */
  task: string
  attempt: number
  headers: Readonly<Record<string, string | undefined>>
}

let tracerOf: TracerProvider | undefined
let cachedTracer: Tracer | undefined
/** The API's no-op provider: what the global provider delegates to while no SDK is registered. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate()
/** Whether `cachedTracer` is the no-op one (its spans record nothing: no attributes to build). */
let noopTracer = false

/** ktask's tracer, fetched again only when another SDK was registered (getTracer allocates per call). */
function tracer(): Tracer {
  const global = trace.getTracerProvider()
  const provider = global instanceof ProxyTracerProvider ? global.getDelegate() : global
  if (provider !== tracerOf || cachedTracer === undefined) {
    tracerOf = provider
    cachedTracer = provider.getTracer('ktask')
    noopTracer = provider === NOOP_PROVIDER
  }
  return cachedTracer
}

/**
 * Starts the span a handler runs in: kind CONSUMER, `process <topic>`, a child of the context the
 * message's headers carry (the span around its enqueue; a retry hop keeps that context, so every attempt
 * is in the enqueue's trace). Returns the span and the context to run the handler in.
 */
export function startConsumerSpan(m: ConsumedMessage): { span: Span; context: Context } {
  const parent = contextFromHeaders(m.headers)
  const t = tracer()
  // Without an SDK the span is the API's non-recording one: the per-message attributes would be dropped.
  if (noopTracer) {
    const span = t.startSpan('process', NOOP_SPAN_OPTIONS, parent)
    return { span, context: trace.setSpan(parent, span) }
  }
  const span = t.startSpan(
    `process ${m.topic}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': m.topic,
        'messaging.destination.partition.id': String(m.partition),
        'messaging.consumer.group.name': m.group,
        'messaging.kafka.offset': Number(m.offset),
        'messaging.message.id': m.messageId,
        'ktask.task': m.task,
        'ktask.attempt': m.attempt,
      },
    },
    parent,
  )
  return { span, context: trace.setSpan(parent, span) }
}

const NOOP_SPAN_OPTIONS = { kind: SpanKind.CONSUMER }

/** Ends a consumer span: OK, or ERROR with the exception recorded. */
export function endConsumerSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    // A thrown non-Error (a string, a plain object) is recorded by its text, as the DLQ headers say it.
    span.recordException(error instanceof Error ? error : errorLine(error))
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorLine(error) })
  }
  span.end()
}
