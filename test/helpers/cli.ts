/**
 * Runs one `ktask` command to its end and keeps stdout and stderr apart, so a test can check what a
 * script piping stdout would see (`--json` output) separately from the logs.
 */
import { CLI, spawnNode, type SpawnOptions } from './processes.ts'

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

export async function runCli(args: string[], options: SpawnOptions = {}): Promise<CliRun> {
  const p = spawnNode([CLI, ...args], options)
  let stdout = ''
  let stderr = ''
  p.child.stdout!.on('data', (chunk: Buffer) => void (stdout += chunk.toString('utf8')))
  p.child.stderr!.on('data', (chunk: Buffer) => void (stderr += chunk.toString('utf8')))
  const { code } = await p.exited
  return { code, stdout, stderr }
}

/** Every line of a text that parses as JSON (pino's log lines). */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').flatMap((line): Record<string, unknown>[] => {
    try {
      const value = JSON.parse(line) as Record<string, unknown> | null
      return typeof value === 'object' && value !== null ? [value] : []
    } catch {
      return []
    }
  })
}
