/**
 * The producer's queue is bounded: during a broker outage, sends beyond `maxQueuedBytes` fail at once
 * with a clear error instead of growing memory (regression: the queue grew without limit).
 */
import { describe, expect, it } from 'vitest'
import type { TransportProducer } from '../../../src/kafka/transport.ts'
import { BatchingProducer, type OutgoingMessage } from '../../../src/producer/batching-producer.ts'

/** A transport producer whose broker never answers (until `answer()`), recording what was sent. */
function stalledKafka() {
  const sent: number[] = []
  let release: (() => void) | undefined
  let stalled = new Promise<void>((r) => (release = r))
  const kafka: TransportProducer = {
    connect: async () => {},
    disconnect: async () => {},
    send: async (messages) => {
      await stalled
      sent.push(messages.length)
    },
  }
  return {
    kafka,
    sent,
    answer: () => {
      release?.()
      stalled = Promise.resolve()
    },
  }
}

const message = (kib: number): OutgoingMessage => ({ topic: 't', key: null, value: Buffer.alloc(kib * 1024), headers: {} })

describe('BatchingProducer', () => {
  it('fails sends beyond maxQueuedBytes at once while the broker does not answer, and sends the rest once it does', async () => {
    const broker = stalledKafka()
    const producer = new BatchingProducer(broker.kafka, { maxQueuedBytes: 1024 * 1024 })
    const accepted: Promise<void>[] = []
    const refused: unknown[] = []
    for (let i = 0; i < 40; i++) {
      const p = producer.send([message(100)])
      accepted.push(p)
      p.catch((err: unknown) => refused.push(err))
    }
    await new Promise((r) => setTimeout(r, 10))
    // About 1 MiB of 100 KiB messages fit; the rest fail at once, naming the option.
    expect(refused.length).toBeGreaterThanOrEqual(29)
    expect(refused.length).toBeLessThanOrEqual(31)
    expect(refused[0]).toMatchObject({ code: 'KTASK_INFRASTRUCTURE', field: 'producer.maxQueuedBytes' })
    broker.answer()
    const results = await Promise.allSettled(accepted)
    const ok = results.filter((r) => r.status === 'fulfilled').length
    expect(ok).toBe(40 - refused.length)
    expect(broker.sent.reduce((a, b) => a + b, 0)).toBe(ok)
    // Room again: a new send goes through.
    await expect(producer.send([message(100)])).resolves.toBeUndefined()
  })

  it('takes a single send larger than the limit when nothing else waits', async () => {
    const broker = stalledKafka()
    broker.answer()
    const producer = new BatchingProducer(broker.kafka, { maxQueuedBytes: 1024 * 1024 })
    await expect(producer.send([message(900), message(900)])).resolves.toBeUndefined()
  })
})
