import { ROOT_CONTEXT, TraceFlags, createTraceState, trace } from '@opentelemetry/api'
import { describe, expect, it } from 'vitest'
import { contextFromHeaders, traceHeaders } from '../../../src/observability/tracing.ts'

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
const spanId = '00f067aa0ba902b7'

describe('W3C trace headers', () => {
  it('none without an active span (no made-up trace)', () => {
    expect(traceHeaders(ROOT_CONTEXT)).toEqual({})
    expect(traceHeaders()).toEqual({})
  })

  it('the active span context as traceparent and tracestate', () => {
    const ctx = trace.setSpanContext(ROOT_CONTEXT, {
      traceId,
      spanId,
      traceFlags: TraceFlags.SAMPLED,
      traceState: createTraceState('vendor=abc,other=1'),
    })
    expect(traceHeaders(ctx)).toEqual({ traceparent: `00-${traceId}-${spanId}-01`, tracestate: 'vendor=abc,other=1' })
    const unsampled = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: TraceFlags.NONE })
    expect(traceHeaders(unsampled)).toEqual({ traceparent: `00-${traceId}-${spanId}-00` })
  })

  it('headers give back a remote parent: the same ids, flags and state', () => {
    const sc = trace.getSpanContext(contextFromHeaders({ traceparent: `00-${traceId}-${spanId}-01`, tracestate: 'k=v' }))
    expect(sc).toMatchObject({ traceId, spanId, traceFlags: 1, isRemote: true })
    expect(sc?.traceState?.get('k')).toBe('v')
    // A round trip.
    expect(traceHeaders(contextFromHeaders(traceHeaders(trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: 1 }))))).toEqual({
      traceparent: `00-${traceId}-${spanId}-01`,
    })
  })

  it('a missing or malformed traceparent starts a new trace (never fails the message)', () => {
    for (const traceparent of [
      undefined,
      '',
      'garbage',
      `00-${traceId}-${spanId}`,
      `ff-${traceId}-${spanId}-01`,
      `00-${'0'.repeat(32)}-${spanId}-01`,
      `00-${traceId}-${'0'.repeat(16)}-01`,
      `00-${traceId}-${spanId}-01-extra`,
      `00-${traceId.toUpperCase()}x-${spanId}-01`,
    ]) {
      expect(contextFromHeaders({ traceparent }), String(traceparent)).toBe(ROOT_CONTEXT)
    }
    // A later version may append fields: they are ignored.
    expect(trace.getSpanContext(contextFromHeaders({ traceparent: `01-${traceId}-${spanId}-01-what-ever` }))?.traceId).toBe(traceId)
  })
})
