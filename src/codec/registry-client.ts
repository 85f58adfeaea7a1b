/**
 * A minimal client for the Confluent-compatible schema registry REST API (Confluent, Apicurio's
 * /apis/ccompat/v7, Redpanda, Karapace).
 *
 * Why not @kafkajs/confluent-schema-registry's client: it reports network failures as HTTP 400 (so a
 * registry outage looks like a bad schema) and its register() compares per-subject config, which Apicurio
 * answers with the global config instead of 404. ktask must tell "registry down" (pause, commit nothing)
 * from "schema unknown" (dead-letter), and must never change a subject's compatibility: that is the
 * operator's decision.
 */
import { KtaskError, infrastructureError } from '../errors.ts'

export interface SchemaRegistryClient {
  /** Registers `schema` under `subject` (idempotent: an existing identical schema returns its id). */
  register(subject: string, schema: string): Promise<number>
  /** The schema text for an id. Throws KTASK_NOT_FOUND for an unknown id, KTASK_INFRASTRUCTURE if unreachable. */
  getSchema(id: number): Promise<string>
}

export interface HttpSchemaRegistryOptions {
  /** Base URL of the Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7 */
  url: string
  /** Basic auth credentials, if the registry needs them. @defaultValue none */
  auth?: { username: string; password: string }
  /** Per-request timeout. @defaultValue 5000 */
  timeoutMs?: number
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json'

export class HttpSchemaRegistryClient implements SchemaRegistryClient {
  readonly #url: string
  readonly #headers: Record<string, string>
  readonly #timeoutMs: number
  // Schemas are immutable per id, so both caches live as long as the client.
  readonly #byId = new Map<number, Promise<string>>()
  readonly #registered = new Map<string, Promise<number>>()

  constructor(options: HttpSchemaRegistryOptions) {
    this.#url = options.url.replace(/\/+$/, '')
    this.#timeoutMs = options.timeoutMs ?? 5000
    this.#headers = { Accept: CONTENT_TYPE, 'Content-Type': CONTENT_TYPE }
    if (options.auth) {
      const token = Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')
      this.#headers.Authorization = `Basic ${token}`
    }
  }

  register(subject: string, schema: string): Promise<number> {
    const key = `${subject}\n${schema}`
    let pending = this.#registered.get(key)
    if (!pending) {
      pending = this.#request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema }).then((body) =>
        Number((body as { id: number }).id),
      )
      // A failed attempt must not poison the cache: the next call tries again.
      pending.catch(() => this.#registered.delete(key))
      this.#registered.set(key, pending)
    }
    return pending
  }

  getSchema(id: number): Promise<string> {
    let pending = this.#byId.get(id)
    if (!pending) {
      pending = this.#request('GET', `/schemas/ids/${id}`).then((body) => (body as { schema: string }).schema)
      pending.catch(() => this.#byId.delete(id))
      this.#byId.set(id, pending)
    }
    return pending
  }

  /**
   * Resolves when the registry answers a read with these credentials (readiness checks). GET /config is
   * small and served by every Confluent-compatible registry, unlike /subjects, which lists everything.
   */
  async ping(): Promise<void> {
    await this.#request('GET', '/config')
  }

  async #request(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response
    try {
      res = await fetch(this.#url + path, {
        method,
        headers: this.#headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
    } catch (err) {
      throw infrastructureError('registry', err)
    }
    const text = await res.text()
    let parsed: unknown
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {
      parsed = { message: text }
    }
    if (res.ok) return parsed
    const message = (parsed as { message?: string } | undefined)?.message ?? `HTTP ${res.status}`
    const registryCode = (parsed as { error_code?: number } | undefined)?.error_code
    // 5xx and throttling mean the registry is unwell, not that the request or the message is wrong.
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      throw infrastructureError('registry', new Error(`${method} ${path}: ${res.status} ${message}`))
    }
    if (res.status === 404) {
      // Only the registry's own codes say what is missing (40401 subject, 40402 version, 40403 schema id).
      // A 404 without one is not the registry speaking — a wrong path, a proxy's error page — so the
      // registry is unreachable, not the schema unknown: pause, never dead-letter.
      if (typeof registryCode === 'number' && registryCode >= 40400 && registryCode < 40500) {
        throw new KtaskError('KTASK_NOT_FOUND', `Schema registry: ${message}`, { status: 404, registryCode, path })
      }
      throw infrastructureError(
        'registry',
        new Error(`${method} ${path}: 404 without a registry error code (wrong URL, or a proxy answering?): ${message.slice(0, 200)}`),
      )
    }
    if (res.status === 401 || res.status === 403) {
      throw infrastructureError('registry', new Error(`${method} ${path}: ${res.status} ${message} (check credentials)`))
    }
    throw new KtaskError('KTASK_VALIDATION', `Schema registry refused ${method} ${path}: ${message}`, {
      status: res.status,
      registryCode,
      path,
    })
  }
}
