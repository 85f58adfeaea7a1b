/**
 * `ktask worker <module>` — runs workers for the app the module exports. SIGTERM/SIGINT stop it
 * gracefully (exit 0); a second signal exits at once (1); a Kafka consumer that crashes without
 * restarting exits 1 so a supervisor restarts the process.
 */
import type { Command } from 'commander'
import { capHeapGrowth } from '../heap.ts'
import { loadApp } from '../load-app.ts'
import { serveMetrics } from '../../observability/metrics-server.ts'
import { intOption, listOption } from '../options.ts'

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run workers for the queues and consumers of an app module')
    .argument('<module>', 'module whose default export is a ktask app')
    .option('--queues <names>', 'comma-separated queues (default: every queue with a task)', listOption)
    .option('--consumers <groups>', 'comma-separated consumer group ids (default: every consumer)', listOption)
    .option('--concurrency <n>', 'handlers running at once', intOption('--concurrency'))
    .option('--shutdown-grace <ms>', 'time in-flight handlers get on SIGTERM', intOption('--shutdown-grace'))
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics on GET /metrics at this port (0: any free port)',
      intOption('--metrics-port'),
    )
    .option('--metrics-host <host>', 'address the metrics port listens on', '0.0.0.0')
    .option('--no-heap-cap', "let V8 size the heap for throughput (Node's default: more no-op throughput, ~150 MiB more memory)")
    .action(
      async (
        modulePath: string,
        opts: {
          queues?: string[]
          consumers?: string[]
          concurrency?: number
          shutdownGrace?: number
          heapCap: boolean
          metricsPort?: number
          metricsHost: string
        },
      ) => {
        const heapCapped = opts.heapCap && capHeapGrowth()
        const app = await loadApp(modulePath)
        const selectOnlyConsumers = opts.consumers !== undefined && opts.queues === undefined
        const selectOnlyQueues = opts.queues !== undefined && opts.consumers === undefined
        const worker = app.worker({
          queues: selectOnlyConsumers ? [] : opts.queues,
          consumers: selectOnlyQueues ? [] : opts.consumers,
          concurrency: opts.concurrency,
          shutdownGraceMs: opts.shutdownGrace,
        })
        // Before start: counting begins with the worker's first message.
        const metrics =
          opts.metricsPort === undefined ? undefined : await serveMetrics(app.metrics(), { port: opts.metricsPort, host: opts.metricsHost })
        let stopping = false
        const shutdown = (signal: string): void => {
          if (stopping) {
            app.logger.warn({ signal }, 'second signal, exiting now')
            process.exit(1)
          }
          stopping = true
          app.logger.info({ signal }, 'stopping worker')
          worker
            .stop()
            .then(() => metrics?.close())
            .then(() => app.close())
            .then(
              () => {
                app.logger.info({ stats: worker.stats() }, 'worker stopped')
                process.exit(0)
              },
              (err: unknown) => {
                app.logger.error({ err }, 'error while stopping')
                process.exit(1)
              },
            )
        }
        process.on('SIGTERM', () => shutdown('SIGTERM'))
        process.on('SIGINT', () => shutdown('SIGINT'))
        worker.on('crash', ({ restart, error }) => {
          if (restart || stopping) return
          app.logger.fatal({ err: error }, 'consumer crashed without restart; exiting')
          stopping = true
          // Never hang: exit even if stopping stalls.
          setTimeout(() => process.exit(1), 10_000).unref()
          void worker.stop().finally(() => process.exit(1))
        })
        try {
          await worker.start()
        } catch (err) {
          // A signal while it waited for the infrastructure: the shutdown above exits (0).
          if (stopping) return
          throw err
        }
        app.logger.info(
          {
            queues: app.queueNames(),
            consumers: app.consumerGroups(),
            concurrency: worker.options.concurrency,
            heapCapped,
            ...(metrics ? { metrics: metrics.url } : {}),
          },
          'worker running',
        )
      },
    )
}
