/** Options of the HTTP service (`createHttpService`, `ktask serve`). */
export interface HttpServiceOptions {
  /** @defaultValue env `KTASK_HTTP_PORT`, else `8080` */
  port?: number
  /** @defaultValue env `KTASK_HTTP_HOST`, else `'0.0.0.0'` */
  host?: string
  /** Bearer token required on /v1 routes; unset = no auth. @defaultValue env `KTASK_HTTP_TOKEN` */
  token?: string
  /** Largest request body; bigger ones get 413. @defaultValue `1_048_576` */
  bodyLimitBytes?: number
  /** How often an event stream looks for changes. @defaultValue `250` */
  ssePollMs?: number
  /** How long /readyz waits for each dependency. @defaultValue `2000` */
  readyTimeoutMs?: number
  /**
   * How long a POST waits for an earlier request with the same Idempotency-Key that is still enqueueing
   * before answering 409 (with Retry-After). @defaultValue `5000`
   */
  idempotencyWaitMs?: number
}

export interface ResolvedHttpOptions {
  port: number
  host: string
  token: string | undefined
  bodyLimitBytes: number
  ssePollMs: number
  readyTimeoutMs: number
  idempotencyWaitMs: number
}

export function resolveHttpOptions(o: HttpServiceOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedHttpOptions {
  const port = o.port ?? (env.KTASK_HTTP_PORT ? Number(env.KTASK_HTTP_PORT) : 8080)
  return {
    port,
    host: o.host ?? env.KTASK_HTTP_HOST ?? '0.0.0.0',
    token: o.token ?? (env.KTASK_HTTP_TOKEN || undefined),
    bodyLimitBytes: o.bodyLimitBytes ?? 1_048_576,
    ssePollMs: o.ssePollMs ?? 250,
    readyTimeoutMs: o.readyTimeoutMs ?? 2000,
    idempotencyWaitMs: o.idempotencyWaitMs ?? 5000,
  }
}
