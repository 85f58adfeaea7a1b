/**
 * Process control for the local infrastructure: pid files under infra/.run, telling our Java processes
 * from anyone else's (by their command line), starting them detached and stopping them.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const infraDir = dirname(fileURLToPath(import.meta.url))
export const runDir = join(infraDir, '.run')
export const libDir = join(infraDir, 'lib')

export type Log = (line: string) => void

/** `dir`: another install's run folder (the three-broker cluster keeps its own, see kafka-cluster.ts). */
export function pidFile(name: string, dir = runDir): string {
  return join(dir, `${name}.pid`)
}

export function readPid(name: string, dir = runDir): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(name, dir), 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

export function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
  } catch {
    return undefined
  }
}

/** A pid is ours only if it is alive and its command line points into this infra folder. */
export function isOurProcess(pid: number | undefined): pid is number {
  if (pid === undefined) return false
  const cmd = cmdline(pid)
  return cmd !== undefined && cmd.includes(libDir)
}

/** Every Java process started from infra/lib, found by scanning /proc (covers lost pid files). */
export function ourJavaProcesses(): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmd = cmdline(Number(entry))
    if (cmd?.includes('java') && cmd.includes(libDir)) pids.push(Number(entry))
  }
  return pids
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host })
    socket.setTimeout(1000)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(false))
  })
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(250)
  }
  throw new Error(`infra: ${what} did not become ready within ${timeoutMs / 1000}s; see ${logFile}`)
}

export function spawnDetached(name: string, java: string, args: string[], env: NodeJS.ProcessEnv = process.env, dir = runDir): number {
  mkdirSync(dir, { recursive: true })
  const logFile = join(dir, `${name}.log`)
  const fd = openSync(logFile, 'a')
  const child = spawn(java, args, { detached: true, stdio: ['ignore', fd, fd], cwd: dir, env })
  if (child.pid === undefined) throw new Error(`infra: could not start ${name} (java not on PATH?)`)
  child.unref()
  writeFileSync(pidFile(name, dir), String(child.pid))
  return child.pid
}

export async function stopPid(name: string, pid: number, log: Log): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM')
  } catch {
    return
  }
  // Kafka's controlled shutdown of a single node takes a few seconds; give it 30 before SIGKILL.
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && cmdline(pid) !== undefined) await sleep(200)
  if (cmdline(pid) !== undefined) {
    log(`infra: ${name} (pid ${pid}) ignored SIGTERM; sending SIGKILL`)
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      /* already gone */
    }
    while (cmdline(pid) !== undefined) await sleep(100)
  }
}
