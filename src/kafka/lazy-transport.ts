/**
 * A transport whose client library is loaded on first use: createTransport stays synchronous, and an app
 * on kafkajs never loads @platformatic/kafka (importing it costs ~65 MiB of RSS: a worker draining 1M
 * tasks peaked at ~200 MiB instead of ~170 with it loaded for nothing).
 *
 * The consumer, producer and admin it hands out forward each call to the real one once it exists; a call
 * before that (the first `connect()`, as a rule) waits for the library to load. Their synchronous
 * methods (pause, resume, seek) are only called after connect(), when the real object is there.
 */
import type { KafkaTransport } from './transport.ts'

export function lazyTransport(load: () => Promise<KafkaTransport>): KafkaTransport {
  let loading: Promise<KafkaTransport> | undefined
  const transport = (): Promise<KafkaTransport> => (loading ??= load())
  return {
    consumer: (settings, events) => forwarding(transport().then((t) => t.consumer(settings, events))),
    producer: () => forwarding(transport().then((t) => t.producer())),
    admin: () => forwarding(transport().then((t) => t.admin())),
  }
}

type Methods = Record<PropertyKey, (...args: unknown[]) => unknown>

function forwarding<T extends object>(made: Promise<T>): T {
  let target: Methods | undefined
  // A failed load is reported by the first call (each call awaits `made`).
  made.then(
    (t) => (target = t as unknown as Methods),
    () => undefined,
  )
  // One forwarder per method name (pause, resume and commit are called per batch).
  const forwarders = new Map<PropertyKey, (...args: unknown[]) => unknown>()
  return new Proxy({} as T, {
    get(_object, name) {
      // Not a thenable: awaiting the object must not wait for a method named `then`.
      if (name === 'then') return undefined
      let forward = forwarders.get(name)
      if (!forward) {
        forward = (...args: unknown[]): unknown =>
          target ? target[name]!(...args) : made.then((t) => (t as unknown as Methods)[name]!(...args))
        forwarders.set(name, forward)
      }
      return forward
    },
  })
}
