/** `ktask serve <module>` — the HTTP service for the app a module exports. */
import type { Command } from 'commander'
import { httpDefaults } from '../../config/defaults.ts'
import { createHttpService } from '../../http/server.ts'
import { loadApp } from '../load-app.ts'
import { intOption } from '../options.ts'

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the HTTP API (enqueue, status, events, health) for an app module')
    .argument('<module>', 'module whose default export is a ktask app')
    .option('--port <n>', `port (default: KTASK_HTTP_PORT or ${httpDefaults.port})`, intOption('--port'))
    .option(
      '--host <host>',
      `interface to listen on (default: KTASK_HTTP_HOST or ${httpDefaults.host}; without a token, anything but loopback logs a warning)`,
    )
    .option('--token <token>', 'bearer token required on every route but /healthz and /readyz (default: KTASK_HTTP_TOKEN)')
    .action(async (modulePath: string, opts: { port?: number; host?: string; token?: string }) => {
      const app = await loadApp(modulePath)
      const http = createHttpService(app, opts)
      const address = await http.listen()
      app.logger.info({ address, tasks: app.taskNames(), auth: http.options.token !== undefined }, 'HTTP service listening')
      const stop = (signal: string): void => {
        app.logger.info({ signal }, 'HTTP service stopping')
        void http
          .close()
          .then(() => app.close())
          .finally(() => process.exit(0))
      }
      process.once('SIGTERM', () => stop('SIGTERM'))
      process.once('SIGINT', () => stop('SIGINT'))
    })
}
