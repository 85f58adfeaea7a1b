/**
 * Controlled outages of the machine's services. Postgres is the machine's own cluster (pg_ctlcluster);
 * the registry is the local infra's process, really stopped and started again (its schemas live in
 * Postgres, so a restart keeps them). Both are only available with local infrastructure.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { localPorts, portOpen, registryStorageKind, startRegistry as startLocalRegistry, stopService } from '../../infra/local-infra.ts'
import { registerCleanup } from './cleanup.ts'
import { infra } from './infra.ts'
import { clearRegistryOutage, markRegistryOutage } from './registry-outage.ts'
import { waitFor } from './wait.ts'

function postgresVersion(): string | undefined {
  if (!existsSync('/etc/postgresql')) return undefined
  return readdirSync('/etc/postgresql')[0]
}

export function canStopPostgres(): boolean {
  const url = new URL(infra().databaseUrl)
  const local = url.hostname === '127.0.0.1' || url.hostname === 'localhost'
  return local && postgresVersion() !== undefined && existsSync('/usr/bin/pg_ctlcluster')
}

function pgctl(action: 'start' | 'stop'): void {
  const args = ['--skip-systemctl-redirect', postgresVersion()!, 'main', action]
  if (action === 'stop') args.push('-m', 'fast')
  execFileSync('pg_ctlcluster', args, { stdio: 'inherit' })
}

/** Stops the machine's Postgres; registers a cleanup that starts it again whatever happens. */
export function stopPostgres(): { start(): void } {
  let running = false
  const start = (): void => {
    if (running) return
    pgctl('start')
    running = true
  }
  registerCleanup(start)
  pgctl('stop')
  return { start }
}

/** The registry outage test needs our local registry, with storage that survives a restart. */
export function canStopRegistry(): boolean {
  return infra().sources.registry === 'local' && registryStorageKind() === 'postgresql'
}

/**
 * Stops the local registry process (SIGTERM, then waits until its port refuses connections); registers a
 * cleanup that starts it again whatever happens. `start()` uses the same command as `npm run infra:up` and
 * resolves once the registry answers; its schemas are kept in Postgres, so ids stay valid.
 */
export async function stopRegistry(): Promise<{ start(): Promise<void> }> {
  const ports = localPorts()
  const quiet = (): void => {}
  let stopped = true
  const start = async (): Promise<void> => {
    if (!stopped) return
    await startLocalRegistry(ports, quiet)
    stopped = false
    clearRegistryOutage()
  }
  registerCleanup(start)
  markRegistryOutage()
  await stopService('registry', quiet)
  await waitFor(async () => !(await portOpen(ports.registry)), { timeoutMs: 10_000, message: 'the registry port to refuse connections' })
  return { start }
}
