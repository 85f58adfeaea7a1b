import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { TypedEmitter } from '../../../src/observability/emitter.ts'

interface Events {
  ping: { n: number }
}

function logger() {
  const lines: Record<string, unknown>[] = []
  const log = pino({ level: 'error' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
  return { log, lines }
}

describe('TypedEmitter', () => {
  it('builds an event only when someone listens, and on() returns an unsubscribe function', () => {
    const e = new TypedEmitter<Events>(logger().log)
    let built = 0
    const build = () => ({ n: ++built })
    e.emit('ping', build)
    expect(built).toBe(0)
    const seen: number[] = []
    const off = e.on('ping', (p) => void seen.push(p.n))
    e.emit('ping', build)
    off()
    e.emit('ping', build)
    expect(seen).toEqual([1])
    expect(built).toBe(1)
  })

  it('a throwing or rejecting listener is logged and never breaks the emitter', async () => {
    const { log, lines } = logger()
    const e = new TypedEmitter<Events>(log)
    const seen: number[] = []
    e.on('ping', () => {
      throw new Error('sync boom')
    })
    e.on('ping', async () => {
      throw new Error('async boom')
    })
    e.on('ping', (p) => void seen.push(p.n))
    expect(() => e.emit('ping', () => ({ n: 1 }))).not.toThrow()
    await new Promise((r) => setTimeout(r, 0))
    expect(seen).toEqual([1])
    expect(lines.map((l) => (l.err as { message: string }).message).sort()).toEqual(['async boom', 'sync boom'])
  })
})
