/**
 * What ktask's own parts (the HTTP service, the CLI, the tests) use of an App beyond its public API. It is
 * kept off the App class, so the published `App` type shows only what users call; `internals(app)` hands
 * it out.
 *
 * The registry is one per process, not per module: a CLI may load an app built by another copy of ktask
 * (an installed `ktask` command and a project's own dependency, or dist and sources), as it always could
 * when these were public fields.
 */
import type { ResolvedAppConfig } from '../config/resolve.ts'
import { KtaskError } from '../errors.ts'
import type { Route } from '../routing/routes.ts'
import type { AppRuntime } from '../runtime/app-runtime.ts'

export interface AppInternals {
  readonly config: ResolvedAppConfig
  /** The clients the app shares (Kafka, producer, codec, pool). */
  readonly runtime: AppRuntime
  /** The routes a worker runs for the selected queues / consumers; throws naming an unknown one. */
  routes(queues: string[] | undefined, consumers: string[] | undefined): Route[]
  /**
   * Registers the task's schema, creates its topic and connects the producer, so that its next enqueue
   * only produces (the HTTP service does this before claiming an Idempotency-Key).
   */
  prepareTask(name: string): Promise<void>
}

const REGISTRY = Symbol.for('ktask.app.internals')
const shared = globalThis as { [REGISTRY]?: WeakMap<object, AppInternals> }
const registry = (shared[REGISTRY] ??= new WeakMap())

/** Called once by each App it constructs. */
export function registerInternals(app: object, parts: AppInternals): void {
  registry.set(app, parts)
}

/** The internals of an app made by `createApp()`; throws KTASK_INVALID_CONFIG for anything else. */
export function internals(app: object): AppInternals {
  const parts = registry.get(app)
  if (!parts) throw new KtaskError('KTASK_INVALID_CONFIG', 'Not a ktask app: create it with createApp()', { field: 'app' })
  return parts
}
