/**
 * Controlled outages of the machine's services. Postgres is the machine's own cluster (pg_ctlcluster);
 * the registry is the local infra's process (SIGSTOP / SIGCONT: its storage is in memory, so a restart
 * would lose the schemas — an outage must not). Both are only available with local infrastructure.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { registerCleanup } from './cleanup.ts'
import { infra } from './infra.ts'

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

const registryPidFile = fileURLToPath(new URL('../../infra/.run/registry.pid', import.meta.url))

export function canStopRegistry(): boolean {
  return infra().source === 'local' && existsSync(registryPidFile)
}

/** Freezes the local registry process (connections hang, requests time out) until `resume()`. */
export function freezeRegistry(): { resume(): void } {
  const pid = Number(readFileSync(registryPidFile, 'utf8'))
  let frozen = true
  const resume = (): void => {
    if (!frozen) return
    process.kill(pid, 'SIGCONT')
    frozen = false
  }
  registerCleanup(resume)
  process.kill(pid, 'SIGSTOP')
  return { resume }
}
