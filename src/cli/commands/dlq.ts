/** `ktask dlq list|show|redrive` — inspect and redrive a dead-letter queue. */
import type { Command } from 'commander'
import type { AppOptions } from '../../config/options.ts'
import { resolvePrefix } from '../../config/resolve.ts'
import { KtaskError } from '../../errors.ts'
import type { DlqFilter } from '../../operations/dlq.ts'
import { consumerBase, dlqTopic as dlqTopicName, queueTopic } from '../../topology/names.ts'
import { createOps } from '../../operations/ops.ts'
import { connectionOptions, withAppOption, type ConnectionFlags } from '../connection.ts'
import { intOption, listOption } from '../options.ts'
import { printJson, progress, table } from '../output.ts'

interface DlqFlags extends ConnectionFlags {
  dlq?: string
  queue?: string
  group?: string
  prefix?: string
  task?: string
  errorClass?: string
  since?: string
  until?: string
  id?: string[]
  json?: boolean
}

/**
 * The DLQ topic: named directly, or from a queue (<prefix>.<queue>.dlq) or consumer group (<prefix>.<group>.dlq),
 * with --prefix, else the prefix the command connects with (--app's, KTASK_PREFIX or ktask).
 */
function dlqTopic(f: DlqFlags, connection: AppOptions): string {
  const prefix = resolvePrefix(f.prefix ?? connection.prefix)
  if (f.dlq) return f.dlq
  if (f.queue) return dlqTopicName(queueTopic(prefix, f.queue))
  if (f.group) return dlqTopicName(consumerBase(prefix, f.group))
  throw new KtaskError('KTASK_VALIDATION', 'Name the DLQ: --dlq <topic>, --queue <name> or --group <consumer group>', { field: 'dlq' })
}

function filter(f: DlqFlags): DlqFilter {
  const date = (flag: string, v?: string): Date | undefined => {
    if (v === undefined) return undefined
    const d = new Date(v)
    if (Number.isNaN(d.getTime()))
      throw new KtaskError('KTASK_VALIDATION', `${flag} must be an ISO date-time (got ${JSON.stringify(v)})`, { field: flag })
    return d
  }
  return { task: f.task, errorClass: f.errorClass, since: date('--since', f.since), until: date('--until', f.until), ids: f.id }
}

function withDlqOptions(cmd: Command): Command {
  return withAppOption(cmd)
    .option('--dlq <topic>', 'the DLQ topic')
    .option('--queue <name>', "a task queue's DLQ (<prefix>.<queue>.dlq)")
    .option('--group <group>', "an app.consume() group's DLQ (<prefix>.<group>.dlq)")
    .option('--prefix <prefix>', "topic prefix (default: --app's prefix, KTASK_PREFIX or ktask)")
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('--task <name>', 'only this task')
    .option('--error-class <class>', 'only this error class')
    .option('--since <iso>', 'dead at or after')
    .option('--until <iso>', 'dead before')
    .option('--id <ids>', 'only these task / message ids (comma-separated)', listOption)
}

export function registerDlqCommand(program: Command): void {
  const dlq = program.command('dlq').description('inspect and redrive a dead-letter queue')

  withFilters(withDlqOptions(dlq.command('list').description('list dead-lettered messages')))
    .option('--json', 'print JSON')
    .action(async (f: DlqFlags) => {
      const connection = await connectionOptions(f)
      const ops = createOps(connection)
      try {
        const entries = await ops.listDlq(dlqTopic(f, connection), filter(f))
        if (f.json) return printJson(entries)
        console.log(
          table(
            ['partition', 'offset', 'task id', 'task', 'attempt', 'stage', 'error', 'dead at', 'redriven'],
            entries.map((e) => [
              e.partition,
              e.offset,
              e.taskId,
              e.task,
              e.attempt,
              e.stage,
              `${e.errorClass ?? ''}: ${(e.errorMessage ?? '').slice(0, 60)}`,
              e.deadAt?.toISOString(),
              e.redriven ? 'yes' : '',
            ]),
          ),
        )
        console.log(`${entries.length} message(s)`)
      } finally {
        await ops.close()
      }
    })

  withDlqOptions(dlq.command('show').description('show one message decoded: payload and headers'))
    .requiredOption('--partition <n>', 'partition', intOption('--partition'))
    .requiredOption('--offset <n>', 'offset', intOption('--offset'))
    // Accepted like on every command; the message is always printed as JSON.
    .option('--json', 'print JSON (the default)')
    .action(async (f: DlqFlags & { partition: number; offset: number }) => {
      const connection = await connectionOptions(f)
      const ops = createOps(connection)
      try {
        printJson(await ops.showDlq(dlqTopic(f, connection), f.partition, f.offset))
      } finally {
        await ops.close()
      }
    })

  withFilters(
    withDlqOptions(dlq.command('redrive').description('resend messages (all, or those matching the filters) — never the same one twice')),
  )
    .option('--all', 'every message not redriven yet (required when no filter is given)')
    .option('--to <topic>', 'target topic (default: the task queue; for events, the group’s retry tier)')
    .option('--rate <n>', 'messages per second', intOption('--rate', 1))
    .option('--dry-run', 'count what would be sent; send nothing')
    .option('--json', 'print JSON')
    .action(async (f: DlqFlags & { all?: boolean; to?: string; rate?: number; dryRun?: boolean }) => {
      const filters = filter(f)
      if (!f.all && Object.values(filters).every((v) => v === undefined)) {
        throw new KtaskError('KTASK_VALIDATION', 'Give --all, or a filter (--task, --error-class, --since, --until, --id)', {
          field: 'all',
        })
      }
      const connection = await connectionOptions(f)
      const ops = createOps(connection)
      try {
        const bar = progress('redrive')
        const result = await ops.redriveDlq(dlqTopic(f, connection), {
          ...filters,
          to: f.to,
          rate: f.rate,
          dryRun: f.dryRun,
          onProgress: (d, t) => bar.update(d, t),
        })
        bar.stop()
        if (f.json) return printJson(result)
        const targets =
          Object.entries(result.byTarget)
            .map(([t, n]) => `${n} → ${t}`)
            .join(', ') || 'nothing'
        console.log(
          `${result.matched} matched, ${result.alreadyRedriven} already redriven, ${result.stubs > 0 ? `${result.stubs} stubs skipped (their payload is truncated), ` : ''}${f.dryRun ? `would send ${targets}` : `sent ${result.sent} (${targets})`}`,
        )
      } finally {
        await ops.close()
      }
    })
}
