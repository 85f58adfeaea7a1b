/**
 * `ktask flow <workflowId> [--app <module>] [--watch] [--json]` — a flow as a tree of its steps
 * (app.flowStatus). Exit code: 0, or 2 when the flow is FAILED or CANCELLED (like `ktask status` for a
 * DEAD task); 1 for an unknown id or an error.
 */
import type { Command } from 'commander'
import type { App } from '../../app/app.ts'
import { flowJson, isFinalFlowState } from '../../http/schemas.ts'
import type { FlowStatus, FlowStepStatus } from '../../store/flow-status.ts'
import { operationsApp, withAppOption, type ConnectionFlags } from '../connection.ts'
import { printJson, table } from '../output.ts'

/**
 * How deep a step sits in the canvas: one level per chain or group index, and a chord's callback one
 * level like its header's steps (`chain[1].header[3]` and `chain[1].callback` are both 1).
 */
function depth(path: string): number {
  const levels = (path.match(/\[\d+\]|\.callback/g) ?? []).length
  return Math.max(0, levels - 1)
}

/** `Error: boom` from a step's stored error ({ class, message, stage } or { class, message, field }). */
function errorText(error: unknown): string {
  const { class: cls, message } = (error ?? {}) as { class?: unknown; message?: unknown }
  if (typeof message !== 'string') return error == null ? '' : JSON.stringify(error)
  return typeof cls === 'string' ? `${cls}: ${message}` : message
}

function tree(steps: FlowStepStatus[]): string {
  return table(
    ['path', 'task', 'state', 'task id', 'attempts', 'error'],
    steps.map((s) => [
      `${'  '.repeat(depth(s.path))}${s.path}`,
      s.task,
      s.state,
      s.taskId,
      s.attempts,
      s.state === 'FAILED' ? errorText(s.error) : '',
    ]),
  )
}

/** `RUNNING: 3 SUCCEEDED, 1 PENDING, 9 WAITING` — what --watch prints while the flow runs. */
function summary(f: FlowStatus): string {
  const counts = new Map<string, number>()
  for (const s of f.steps) counts.set(s.state, (counts.get(s.state) ?? 0) + 1)
  return `${f.state}: ${[...counts].map(([state, n]) => `${n} ${state}`).join(', ')}`
}

/** Polls until the flow is final, printing a summary line whenever it changes. */
async function watch(app: App, first: FlowStatus, out: NodeJS.WriteStream): Promise<FlowStatus> {
  let flow = first
  let last = ''
  while (!isFinalFlowState(flow.state)) {
    const text = summary(flow)
    if (text !== last) {
      out.write(out.isTTY ? `\r\x1b[K${text}` : `${text}\n`)
      last = text
    }
    await new Promise((r) => setTimeout(r, 250))
    flow = (await app.flowStatus(flow.workflowId)) ?? flow
  }
  if (out.isTTY) out.write('\r\x1b[K')
  return flow
}

export function registerFlowCommand(program: Command): void {
  withAppOption(program.command('flow'))
    .description('show a flow as a tree of its steps (state, task id, attempts, error); exits 2 when it FAILED or was CANCELLED')
    .argument('<workflowId>')
    .option('--watch', 'follow the flow until it is final')
    .option('--json', 'print JSON (with --watch: the live lines go to stderr)')
    .action(async (workflowId: string, opts: ConnectionFlags & { watch?: boolean; json?: boolean }) => {
      const app = await operationsApp(opts)
      try {
        let flow = await app.flowStatus(workflowId)
        if (!flow) {
          console.error(`ktask: no flow with id ${workflowId}`)
          process.exitCode = 1
          return
        }
        // With --json, stdout carries only the final document; the live lines go to stderr.
        if (opts.watch) flow = await watch(app, flow, opts.json ? process.stderr : process.stdout)
        // Scripts branch on the exit code, with or without --json: 2 means the flow did not succeed.
        if (flow.state === 'FAILED' || flow.state === 'CANCELLED') process.exitCode = 2
        if (opts.json) return printJson(flowJson(flow))
        const finished = flow.finishedAt ? `   finished ${flow.finishedAt.toISOString()}` : ''
        console.log(`${flow.workflowId}  ${flow.state} (${flow.failurePolicy})`)
        console.log(`  created ${flow.createdAt.toISOString()}${finished}`)
        console.log(tree(flow.steps))
      } finally {
        await app.close()
      }
    })
}
