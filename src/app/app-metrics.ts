/**
 * An app's metrics wiring (observability/metrics.ts holds the metrics): made on the first app.metrics()
 * call, then fed by every worker of the app (those made before too) and by handler starts.
 */
import type { Registry } from 'prom-client'
import { metricsRoute, type KtaskMetrics } from '../observability/metrics.ts'
import { H } from '../retry/headers.ts'
import type { Route } from '../routing/routes.ts'
import type { AppRuntime } from '../runtime/app-runtime.ts'
import type { ExecutionHooks } from '../worker/execution.ts'
import type { Worker } from '../worker/worker.ts'

export interface AppMetricsDeps {
  runtime: AppRuntime
  workers(): Iterable<Worker>
  /** The routes for the given queues / consumers (all of them without either). */
  routes(queues: string[] | undefined, consumers: string[] | undefined): Route[]
  /** The queue of a task of the app (undefined for a consumer's handler). */
  queueOf(task: string): string | undefined
}

export class AppMetrics {
  readonly #d: AppMetricsDeps

  constructor(deps: AppMetricsDeps) {
    this.#d = deps
  }

  /** The registry, made (and given the app's workers) on the first call. */
  registry(): Registry {
    let metrics = this.#d.runtime.metrics
    if (!metrics) {
      metrics = this.#d.runtime.enableMetrics(() =>
        [...this.#d.workers()]
          .filter((w) => w.state === 'running')
          .flatMap((w) => this.#d.routes(w.options.queues, w.options.consumers).map(metricsRoute)),
      )
      for (const worker of this.#d.workers()) this.#observe(metrics, worker)
    }
    return metrics.registry
  }

  /** A worker was made: counted from now if metrics are on (else once they are). */
  workerCreated(worker: Worker): void {
    const metrics = this.#d.runtime.metrics
    if (metrics) this.#observe(metrics, worker)
  }

  /** Handler starts feed ktask_enqueue_to_start_seconds once metrics are on. */
  readonly hooks: ExecutionHooks = {
    started: (item) => {
      const metrics = this.#d.runtime.metrics
      if (!metrics) return
      const spec = item.prepared.spec
      metrics.started(this.#d.queueOf(spec.name) ?? spec.name, item.envelope.attempt, item.envelope.headers[H.enqueuedAt])
    },
  }

  #observe(metrics: KtaskMetrics, worker: Worker): void {
    const names = new Map<string, string>()
    metrics.observe(worker, (groupId) => {
      let name = names.get(groupId)
      if (name === undefined) {
        name = this.#d.routes(undefined, undefined).find((r) => r.groupId === groupId)?.name ?? groupId
        names.set(groupId, name)
      }
      return name
    })
  }
}
