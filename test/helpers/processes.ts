/**
 * Real worker processes: spawn `ktask worker <module>` with Node 24, signal them, await their exit.
 * Every process is registered for cleanup (SIGKILL if still running when the test ends).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { registerCleanup } from './cleanup.ts'
import { infra } from './infra.ts'
import { waitFor } from './wait.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

export interface SpawnedProcess {
  readonly name: string
  readonly pid: number
  readonly child: ChildProcess
  /** Every line printed so far (stdout and stderr). */
  readonly lines: string[]
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  readonly running: boolean
  kill(signal?: NodeJS.Signals): void
  /** Resolves with the first line matching `pattern` (also one printed before the call). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>
  /** Parsed JSON log lines (pino) — the non-JSON ones are skipped. */
  json(): Record<string, unknown>[]
}

export interface SpawnOptions {
  name?: string
  env?: Record<string, string>
  /** Print the process output to the test log as it arrives. @defaultValue env KTASK_TEST_VERBOSE */
  verbose?: boolean
  /** Working directory. @defaultValue the repository root */
  cwd?: string
  /** Resolve `ktask` to its TypeScript sources (`--conditions=ktask-source`), as this repository does. @defaultValue true */
  sources?: boolean
  /**
   * A command that runs node for us and then becomes it (execs it), such as `['ip', 'netns', 'exec', 'ns1']`:
   * the pid, signals and /proc stay node's. @defaultValue none
   */
  wrap?: string[]
  /** `startWorkerProcess`: how long to wait for "worker running". @defaultValue 90000 */
  readyTimeoutMs?: number
}

const spawned: SpawnedProcess[] = []

/** Every process this test process spawned, oldest first (for a failed test to print what they said). */
export function spawnedProcesses(): readonly SpawnedProcess[] {
  return spawned
}

export function spawnNode(args: string[], options: SpawnOptions = {}): SpawnedProcess {
  const endpoints = infra()
  const nodeArgs = [...(options.sources === false ? [] : ['--conditions=ktask-source']), ...args]
  const [command, ...commandArgs] = options.wrap?.length
    ? [...options.wrap, process.execPath, ...nodeArgs]
    : [process.execPath, ...nodeArgs]
  const child = spawn(command!, commandArgs, {
    cwd: options.cwd ?? root,
    env: {
      ...process.env,
      KTASK_BROKERS: endpoints.brokers.join(','),
      KTASK_SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl,
      DATABASE_URL: endpoints.databaseUrl,
      LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const name = options.name ?? `node#${child.pid}`
  const verbose = options.verbose ?? process.env.KTASK_TEST_VERBOSE === '1'
  const lines: string[] = []
  let running = true
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue
      lines.push(line)
      if (verbose) console.log(`[${name}] ${line}`)
    }
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false
      resolve({ code, signal })
    })
  })
  registerCleanup(async () => {
    if (running) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const proc: SpawnedProcess = {
    name,
    pid: child.pid!,
    child,
    lines,
    exited,
    get running() {
      return running
    },
    kill: (signal = 'SIGTERM') => {
      if (running) child.kill(signal)
    },
    waitForLine: (pattern, timeoutMs = 60_000) =>
      waitFor(
        () =>
          lines.find((l) => pattern.test(l)) ??
          (running ? undefined : Promise.reject(new Error(`${name} exited:\n${lines.slice(-30).join('\n')}`))),
        { timeoutMs, message: `${name} to print ${pattern}` },
      ),
    json: () =>
      lines.flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>]
        } catch {
          return []
        }
      }),
  }
  spawned.push(proc)
  return proc
}

/** Spawns `ktask worker <module> ...args` and waits until it reports running. */
export async function startWorkerProcess(module: string, args: string[] = [], options: SpawnOptions = {}): Promise<SpawnedProcess> {
  const proc = spawnNode([CLI, 'worker', module, ...args], options)
  await proc.waitForLine(/"msg":"worker running"|: worker running/, options.readyTimeoutMs ?? 90_000)
  return proc
}
