/**
 * Avro encode/decode in the Confluent wire format, with schemas registered in (and fetched from) a
 * Confluent-compatible registry. Validation errors name the first bad field; decode errors say why the
 * message cannot be read, so the worker can dead-letter it with stage `decode`.
 */
import { readFileSync } from 'node:fs'
import avro from 'avsc'
import type { Resolver, Schema, Type } from 'avsc'
import { KtaskError, isKtaskError } from '../errors.ts'
import type { SchemaRegistryClient } from './registry-client.ts'
import { encodeWireWith, parseWire } from './wire-format.ts'

/**
 * An Avro schema: a parsed object, its JSON text, a path to an .avsc file, or an avsc Type. Plain objects
 * are accepted as they are (a schema kept in a variable widens `'record'` to `string`); avsc validates
 * them at definition time.
 */
export type AvroSchemaInput = Schema | string | Type | Readonly<Record<string, unknown>>

export function toAvroType(input: AvroSchemaInput, what: string): Type {
  if (input instanceof avro.Type) return input
  try {
    if (typeof input === 'string') {
      const text = input.trim().endsWith('.avsc') && !input.trim().startsWith('{') ? readFileSync(input, 'utf8') : input
      return avro.Type.forSchema(JSON.parse(text) as Schema)
    }
    return avro.Type.forSchema(input as Schema)
  } catch (err) {
    throw new KtaskError('KTASK_INVALID_CONFIG', `Invalid Avro schema for ${what}: ${(err as Error).message}`, {
      field: 'schema',
      cause: err,
    })
  }
}

function describeValue(val: unknown): string {
  if (val === undefined) return 'missing'
  if (val === null) return 'null'
  if (Array.isArray(val)) return 'an array'
  if (typeof val === 'object') return 'an object'
  return `${typeof val} ${JSON.stringify(val)?.slice(0, 40)}`
}

function describeType(type: Type): string {
  const t = type as Type & { typeName?: string; name?: string; symbols?: string[]; types?: Type[] }
  if (t.typeName?.startsWith('union') && t.types) return t.types.map(describeType).join(' or ')
  if (t.typeName === 'enum' && t.symbols) return `one of ${t.symbols.map((s) => JSON.stringify(s)).join(', ')}`
  if (t.typeName === 'record' || t.typeName === 'error') return `a record${t.name ? ` (${t.name})` : ''}`
  return t.typeName ?? 'a valid value'
}

/**
 * Checks `value` against `type`; throws KTASK_VALIDATION naming the first bad field (dotted path).
 * Extra fields that the schema does not declare are refused too: they would be silently dropped.
 */
export function validateAvro(type: Type, value: unknown, what: string): void {
  let first: { path: string[]; val: unknown; type: Type } | undefined
  const ok = type.isValid(value, {
    errorHook: (path, val, t) => {
      first ??= { path: [...path], val, type: t }
    },
  })
  if (!ok && first) {
    const field = first.path.join('.') || '(root)'
    throw new KtaskError(
      'KTASK_VALIDATION',
      `${what}: field "${field}" must be ${describeType(first.type)}, got ${describeValue(first.val)}`,
      { field, expected: describeType(first.type) },
    )
  }
  const extra = findUndeclaredField(type, value, [])
  if (extra) {
    throw new KtaskError('KTASK_VALIDATION', `${what}: field "${extra}" is not in the schema`, { field: extra })
  }
}

/** A record type's fields by name, built once per type (enqueue validates every message). */
const declaredFields = new WeakMap<Type, Map<string, Type>>()

/**
 * The path of the first field of `value` its schema does not declare (avsc accepts and drops them).
 * `path` is the position so far, extended and restored in place: the common case finds nothing.
 */
function findUndeclaredField(type: Type, value: unknown, path: string[]): string | undefined {
  const t = type as Type & {
    typeName?: string
    fields?: { name: string; type: Type }[]
    itemsType?: Type
    valuesType?: Type
    types?: Type[]
  }
  if (value === null || typeof value !== 'object') return undefined
  const within = (key: string, fieldType: Type, v: unknown): string | undefined => {
    path.push(key)
    const nested = findUndeclaredField(fieldType, v, path)
    path.pop()
    return nested
  }
  if ((t.typeName === 'record' || t.typeName === 'error') && t.fields) {
    let declared = declaredFields.get(type)
    if (!declared) declaredFields.set(type, (declared = new Map(t.fields.map((f) => [f.name, f.type]))))
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue
      const fieldType = declared.get(key)
      if (!fieldType) return [...path, key].join('.')
      const nested = within(key, fieldType, (value as Record<string, unknown>)[key])
      if (nested) return nested
    }
  } else if (t.typeName === 'array' && t.itemsType && Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const nested = within(String(i), t.itemsType, value[i])
      if (nested) return nested
    }
  } else if (t.typeName === 'map' && t.valuesType) {
    for (const [key, v] of Object.entries(value)) {
      const nested = within(key, t.valuesType, v)
      if (nested) return nested
    }
  } else if (t.typeName?.startsWith('union') && t.types) {
    // An unwrapped union: look inside the branch the value belongs to.
    const branch = t.types.find((b) => b.isValid(value))
    if (branch) return findUndeclaredField(branch, value, path)
  }
  return undefined
}

export interface DecodedMessage {
  value: unknown
  schemaId: number
}

/**
 * How long a schema id the registry says it does not know (40403) is asked for again before messages
 * written with it count as undecodable: a schema registered a moment ago on another registry node may
 * not have replicated yet. Meanwhile decoding fails as an outage, so the partition backs off and retries.
 */
export const UNKNOWN_SCHEMA_GRACE_MS = 5000
/** After this, an id that was unknown is asked about with a fresh grace period. */
const UNKNOWN_SCHEMA_MEMORY_MS = 10 * 60_000

export class AvroCodec {
  readonly #registry: SchemaRegistryClient
  readonly #now: () => number
  /** Schema ids the registry said it does not know, with when it first said so. */
  readonly #unknownSince = new Map<number, number>()
  readonly #writerTypes = new Map<number, Promise<Type>>()
  /** Writer types already fetched: decoding with them needs no promise (the hot path). */
  readonly #loadedWriterTypes = new Map<number, Type>()
  readonly #resolvers = new WeakMap<Type, Map<number, Resolver>>()

  constructor(registry: SchemaRegistryClient, now: () => number = Date.now) {
    this.#registry = registry
    this.#now = now
  }

  /** Registers the schema under `subject` and returns its id (cached by the registry client). */
  register(subject: string, type: Type): Promise<number> {
    // exportAttrs keeps field defaults, docs and logical types: the registered schema is the whole schema.
    return this.#registry.register(subject, JSON.stringify(type.schema({ exportAttrs: true })))
  }

  /** Validates then encodes; throws KTASK_VALIDATION naming the field. */
  encode(schemaId: number, type: Type, value: unknown, what: string): Buffer {
    validateAvro(type, value, what)
    return encodeWireWith(schemaId, (buf, pos) => type.encode(value, buf, pos))
  }

  /**
   * Decodes a wire-format message. With a `reader` type the writer's data is resolved into it (schema
   * evolution); a writer schema the reader cannot accept is a decode error. Registry outages surface as
   * KTASK_INFRASTRUCTURE so the caller can pause instead of dead-lettering.
   */
  async decode(value: Buffer | null, reader?: Type): Promise<DecodedMessage> {
    const { schemaId } = parseWire(value)
    await this.#writerType(schemaId)
    return this.decodeLoaded(value, reader)!
  }

  /**
   * `decode()` without a promise when the writer schema was fetched before; undefined when it was not
   * (then call `decode()`). Throws KTASK_DECODE like `decode()`.
   */
  decodeLoaded(value: Buffer | null, reader?: Type): DecodedMessage | undefined {
    const { schemaId, body } = parseWire(value)
    const writer = this.#loadedWriterTypes.get(schemaId)
    if (!writer) return undefined
    let resolver: Resolver | undefined
    if (reader) resolver = this.#resolver(reader, writer, schemaId)
    try {
      return { value: (reader ?? writer).fromBuffer(body, resolver), schemaId }
    } catch (err) {
      throw new KtaskError('KTASK_DECODE', `Avro body does not match schema id ${schemaId}: ${(err as Error).message}`, {
        field: 'value',
        reason: 'malformed-body',
        schemaId,
        cause: err,
      })
    }
  }

  #writerType(schemaId: number): Promise<Type> {
    let pending = this.#writerTypes.get(schemaId)
    if (!pending) {
      pending = this.#registry.getSchema(schemaId).then(
        (text) => {
          const type = avro.Type.forSchema(JSON.parse(text) as Schema)
          this.#loadedWriterTypes.set(schemaId, type)
          return type
        },
        (err: unknown) => {
          if (isKtaskError(err, 'KTASK_NOT_FOUND')) throw this.#unknownSchema(schemaId, err)
          throw err
        },
      )
      pending.catch(() => this.#writerTypes.delete(schemaId))
      this.#writerTypes.set(schemaId, pending)
    }
    return pending
  }

  /** KTASK_INFRASTRUCTURE (ask again) during the grace period after the registry first said so, then KTASK_DECODE. */
  #unknownSchema(schemaId: number, cause: unknown): KtaskError {
    const now = this.#now()
    let since = this.#unknownSince.get(schemaId)
    if (since === undefined || now - since > UNKNOWN_SCHEMA_MEMORY_MS) this.#unknownSince.set(schemaId, (since = now))
    if (now - since < UNKNOWN_SCHEMA_GRACE_MS) {
      return new KtaskError('KTASK_INFRASTRUCTURE', `registry does not know schema id ${schemaId} yet; asking again`, {
        component: 'registry',
        schemaId,
        cause,
      })
    }
    return new KtaskError('KTASK_DECODE', `Unknown schema id ${schemaId} (not in the registry after ${UNKNOWN_SCHEMA_GRACE_MS / 1000} s)`, {
      field: 'value',
      reason: 'unknown-schema-id',
      schemaId,
      cause,
    })
  }

  #resolver(reader: Type, writer: Type, schemaId: number): Resolver {
    let byId = this.#resolvers.get(reader)
    if (!byId) {
      byId = new Map()
      this.#resolvers.set(reader, byId)
    }
    let resolver = byId.get(schemaId)
    if (!resolver) {
      try {
        resolver = reader.createResolver(writer)
      } catch (err) {
        const name = (reader as Type & { name?: string }).name ?? 'the expected schema'
        throw new KtaskError('KTASK_DECODE', `Schema id ${schemaId} cannot be read as ${name}: ${(err as Error).message}`, {
          field: 'value',
          reason: 'schema-not-accepted',
          schemaId,
          cause: err,
        })
      }
      byId.set(schemaId, resolver)
    }
    return resolver
  }
}
