/** Benchmark worker processes: `ktask worker bench/worker-app.js` from the built package, and their memory. */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { brokers, databaseUrl, registryUrl, root, until } from './env.ts'

export interface BenchWorker {
  child: ChildProcess
  running: Promise<void>
  exited: Promise<number | null>
}

/**
 * Workers still running. A section that throws skips its stopBenchWorker: such a worker outlived the
 * benchmark by 1.5 h once (through an infra restart), and every outbox and timer test of a later CI run on
 * the machine timed out until it was killed. Whatever is left is killed when the benchmark exits.
 */
const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

export function startBenchWorker(env: Record<string, string>, args: string[] = []): BenchWorker {
  // The built CLI, as users run it in production (`npm run bench` builds dist/ first).
  const child = spawn(process.execPath, ['dist/cli/main.js', 'worker', 'bench/worker-app.js', ...args], {
    cwd: root,
    env: {
      ...process.env,
      KTASK_BROKERS: brokers.join(','),
      KTASK_SCHEMA_REGISTRY_URL: registryUrl,
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  })
  // The CLI logs to stderr.
  let out = ''
  const running = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('worker running')) resolve()
      if (out.length > 100_000) out = out.slice(-10_000)
    })
    child.once('exit', (code) => reject(new Error(`bench worker exited (${code}) before running:\n${out.slice(-2000)}`)))
  })
  running.catch(() => {})
  live.add(child)
  child.once('exit', () => live.delete(child))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, running, exited }
}

/** Resident set size now and at its peak (VmHWM), in MiB, from /proc. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}

export async function stopBenchWorker(w: BenchWorker): Promise<void> {
  w.child.kill('SIGTERM')
  const code = await Promise.race([w.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))])
  if (code === 'timeout') w.child.kill('SIGKILL')
}

export { until }
