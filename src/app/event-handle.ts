/**
 * The handle `app.event()` returns: publish domain events. An event is validated and encoded with its
 * Avro schema, registered under the topic's subject (`<topic>-value`, Confluent's TopicNameStrategy, so
 * a consumer in any language decodes it with the registry), and carries its id in the `ktask-id` header
 * (consumers made with ktask deduplicate by it).
 *
 * Without `tx` it is produced at once (acks = all); with `tx` it is written to the outbox in the caller's
 * transaction — it exists if and only if that transaction commits — and the relay publishes it in
 * per-key order.
 */
import { fieldAt } from '../codec/field-at.ts'
import type { Type } from 'avsc'
import type { EventDefinition, EventType, PublishOptions, PublishResult } from '../config/definitions.ts'
import { EVENT_OPTION_NAMES, refuseUnknown } from '../config/known-options.ts'
import { checkInt, checkName } from '../config/resolve.ts'
import { queueDefaults } from '../config/defaults.ts'
import { KtaskError, configError } from '../errors.ts'
import type { OutgoingMessage } from '../producer/batching-producer.ts'
import { newTaskId } from '../producer/ids.ts'
import { traceHeaders } from '../observability/tracing.ts'
import { H } from '../retry/headers.ts'
import { toAvroType } from '../codec/avro-codec.ts'
import type { AppRuntime } from '../runtime/app-runtime.ts'
import { insertOutbox } from '../store/outbox.ts'
import type { Queryable } from '../store/queryable.ts'

/** What ktask itself does with an event handle besides publish (ctx.publish). */
export interface EventInternals {
  /** Registers the schema and creates the topic (app.provision()). */
  prepare(): Promise<void>
  writeInTransaction(db: Queryable, event: unknown, options: Omit<PublishOptions, 'tx'>, eventId: string): Promise<PublishResult>
}

const REGISTRY = Symbol.for('ktask.event.internals')
const shared = globalThis as { [REGISTRY]?: WeakMap<object, EventInternals> }
const registry = (shared[REGISTRY] ??= new WeakMap())

/** The internals of a handle made by `app.event()`; undefined for anything else. */
export function eventInternals(handle: unknown): EventInternals | undefined {
  return handle !== null && typeof handle === 'object' ? registry.get(handle) : undefined
}

export function createEventType<Event>(runtime: AppRuntime, definition: EventDefinition<Event>): EventType<Event> {
  const owner = `event "${String(definition?.topic)}"`
  if (definition === null || typeof definition !== 'object') throw configError('event', 'must be an object { topic, schema, key? }')
  refuseUnknown(owner, definition, EVENT_OPTION_NAMES)
  const topic = checkName(`${owner}.topic`, definition.topic)
  if (definition.schema === undefined) throw configError(`${owner}.schema`, 'is required (an Avro record schema)')
  const type: Type = toAvroType(definition.schema, owner)
  const keyOf = definition.key
  if (keyOf !== undefined && typeof keyOf !== 'string' && typeof keyOf !== 'function') {
    throw configError(`${owner}.key`, 'must be a payload field name (dotted path) or a function of the event')
  }
  const partitions = checkInt(`${owner}.partitions`, definition.partitions ?? queueDefaults.partitions, 1)
  const replicationFactor = checkInt(`${owner}.replicationFactor`, definition.replicationFactor ?? queueDefaults.replicationFactor, -1)
  const subject = `${topic}-value`
  const what = `Invalid event for topic "${topic}"`

  let schemaId: Promise<number> | undefined
  const getSchemaId = (): Promise<number> => {
    schemaId ??= runtime.codec.register(subject, type).catch((err: unknown) => {
      schemaId = undefined
      throw err
    })
    return schemaId
  }
  const ensureTopic = (): Promise<void> => runtime.ensureTopics([{ topic, partitions, replicationFactor }])

  const keyFor = (event: unknown, options: Omit<PublishOptions, 'tx'>, eventId: string): string => {
    if (options.key !== undefined) {
      if (typeof options.key !== 'string') throw new KtaskError('KTASK_VALIDATION', `${what}: key must be a string`, { field: 'key' })
      return options.key
    }
    if (keyOf === undefined) return eventId
    let key: unknown
    try {
      key = typeof keyOf === 'function' ? keyOf(event as Event) : fieldAt(event, keyOf)
    } catch (err) {
      throw new KtaskError('KTASK_VALIDATION', `${what}: the key function threw: ${(err as Error)?.message}`, { field: 'key', cause: err })
    }
    if ((typeof key !== 'string' && typeof key !== 'number') || key === '') {
      const from = typeof keyOf === 'function' ? 'key()' : keyOf
      throw new KtaskError('KTASK_VALIDATION', `${what}: the key (${from}) is ${key === undefined ? 'missing' : JSON.stringify(key)}`, {
        field: typeof keyOf === 'function' ? 'key' : keyOf,
      })
    }
    return String(key)
  }

  const build = (id: number, event: unknown, options: Omit<PublishOptions, 'tx'>, eventId: string): OutgoingMessage => {
    if (typeof eventId !== 'string' || eventId.length === 0 || eventId.length > 200) {
      throw new KtaskError('KTASK_VALIDATION', `${what}: eventId must be a string of 1-200 characters`, { field: 'eventId' })
    }
    const value = runtime.codec.encode(id, type, event, what)
    const key = keyFor(event, options, eventId)
    const extra = options.headers ?? {}
    for (const [name, v] of Object.entries(extra)) {
      if (typeof v !== 'string')
        throw new KtaskError('KTASK_VALIDATION', `${what}: header "${name}" must be a string`, { field: `headers.${name}` })
    }
    return { topic, key, value, headers: { ...(extra[H.traceparent] === undefined ? traceHeaders() : {}), ...extra, [H.id]: eventId } }
  }

  const write = async (db: Queryable, message: OutgoingMessage, eventId: string): Promise<void> => {
    await ensureTopic()
    await runtime.ensureMigrated()
    await insertOutbox(db, [{ ...message, messageId: eventId }])
  }

  const handle: EventType<Event> = {
    topic,
    schema: type.schema({ exportAttrs: true }) as Record<string, unknown>,
    async publish(event, options = {}) {
      runtime.assertOpen()
      const tx = options.tx
      if (tx !== undefined) {
        if (tx === null || typeof tx.query !== 'function')
          throw new KtaskError('KTASK_VALIDATION', `${what}: tx must be a node-postgres client (in your transaction)`, { field: 'tx' })
        if (!runtime.hasDatabase)
          throw new KtaskError(
            'KTASK_INVALID_CONFIG',
            `${what}: tx needs the app's database (its relay publishes the outbox), but the app was created with database: false`,
            { field: 'tx' },
          )
      }
      const eventId = options.eventId ?? newTaskId()
      const message = build(await getSchemaId(), event, options, eventId)
      if (tx) await write(tx, message, eventId)
      else {
        await ensureTopic()
        await runtime.producer().send([message])
      }
      return { eventId }
    },
  }
  registry.set(handle, {
    async prepare() {
      runtime.assertOpen()
      await getSchemaId()
      await ensureTopic()
    },
    async writeInTransaction(db, event, options, eventId) {
      runtime.assertOpen()
      const message = build(await getSchemaId(), event, options, eventId)
      await write(db, message, eventId)
      return { eventId }
    },
  })
  return handle
}
