/**
 * A registry stopped on purpose by an outage test is not missing: a test run starting meanwhile (a second
 * terminal, or several people on one machine) must wait for it to come back, not start a registry of its
 * own — which it would then stop when it ends, under the outage test's feet. No vitest imports: the
 * global setup uses this too.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { portOpen, runDir } from '../../infra/process-control.ts'

const markerFile = join(runDir, 'registry.outage')

/** Says "this process stopped the registry and will start it again". */
export function markRegistryOutage(): void {
  writeFileSync(markerFile, String(process.pid))
}

export function clearRegistryOutage(): void {
  rmSync(markerFile, { force: true })
}

/** True while a live process has the registry stopped on purpose (a crashed test's marker is ignored). */
export function registryOutageInProgress(): boolean {
  let pid: number
  try {
    pid = Number(readFileSync(markerFile, 'utf8'))
  } catch {
    return false
  }
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Waits until the registry's port answers again, or the outage's owner is gone. */
export async function waitForRegistryOutageToEnd(port: number, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await portOpen(port)) return
    if (!registryOutageInProgress()) return
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`test infra: the registry stopped by an outage test did not come back within ${timeoutMs / 1000}s`)
}
