/**
 * `ktask replay` — move a stopped group to an offset or a time, or re-publish a range into another topic.
 */
import type { Command } from 'commander'
import { KtaskError } from '../../errors.ts'
import { createOps } from '../../replay/ops.ts'
import type { EndSpec, StartSpec } from '../../replay/offsets.ts'
import { intOption } from '../options.ts'
import { printJson, progress, table } from '../output.ts'

interface ReplayFlags {
  group?: string
  topic: string
  partition?: number
  fromOffset?: number
  fromTime?: string
  earliest?: boolean
  toOffset?: number
  toTime?: string
  into?: string
  rate?: number
  dryRun?: boolean
  force?: boolean
  create?: boolean
  json?: boolean
}

function time(flag: string, value: string): Date {
  const d = new Date(value)
  if (Number.isNaN(d.getTime())) throw new KtaskError('KTASK_VALIDATION', `${flag} must be an ISO date-time (got ${JSON.stringify(value)})`, { field: flag })
  return d
}

function startSpec(f: ReplayFlags): StartSpec {
  const given = [f.fromOffset !== undefined, f.fromTime !== undefined, f.earliest === true].filter(Boolean).length
  if (given !== 1) throw new KtaskError('KTASK_VALIDATION', 'Give exactly one of --from-offset, --from-time, --earliest', { field: 'from' })
  if (f.fromOffset !== undefined) return { fromOffset: f.fromOffset }
  if (f.fromTime !== undefined) return { fromTime: time('--from-time', f.fromTime) }
  return { earliest: true }
}

function endSpec(f: ReplayFlags): EndSpec {
  if (f.toOffset !== undefined && f.toTime !== undefined) throw new KtaskError('KTASK_VALIDATION', 'Give at most one of --to-offset, --to-time', { field: 'to' })
  if (f.toOffset !== undefined) return { toOffset: f.toOffset }
  if (f.toTime !== undefined) return { toTime: time('--to-time', f.toTime) }
  return undefined
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('replay a topic: move a stopped group to an offset or time, or re-publish a range with --into')
    .requiredOption('--topic <topic>', 'the topic to replay')
    .option('--group <group>', 'consumer group whose committed offsets move (without --into)')
    .option('--partition <n>', 'only this partition', intOption('--partition'))
    .option('--from-offset <n>', 'start at this offset', intOption('--from-offset'))
    .option('--from-time <iso>', 'start at the first message at or after this time')
    .option('--earliest', 'start at the earliest retained message')
    .option('--to-offset <n>', 'with --into: last offset included', intOption('--to-offset'))
    .option('--to-time <iso>', 'with --into: stop before this time')
    .option('--into <topic>', 're-publish the range into this topic (created if missing) instead of moving a group')
    .option('--rate <n>', 'with --into: messages per second', intOption('--rate', 1))
    .option('--dry-run', 'print what would move, per partition; change nothing')
    .option('--force', "skip ktask's check for active group members (Kafka still refuses a live group)")
    .option('--create', 'allow a group that has never committed')
    .option('--json', 'print JSON')
    .action(async (f: ReplayFlags) => {
      const ops = createOps()
      try {
        const start = startSpec(f)
        if (f.into) {
          const bar = progress(`replay → ${f.into}`)
          const result = await ops.republish({ topic: f.topic, partition: f.partition, start, end: endSpec(f), into: f.into, rate: f.rate, dryRun: f.dryRun, onProgress: (d, t) => bar.update(d, t) })
          bar.stop()
          if (f.json) return printJson(result)
          console.log(table(['partition', 'from', 'to (excl.)', 'messages'], result.partitions.map((p) => [p.partition, p.from, p.to, p.messages])))
          console.log(f.dryRun ? `dry run: nothing published (${result.partitions.reduce((s, p) => s + p.messages, 0)} messages would be)` : `published ${result.published} messages into ${f.into}`)
          return
        }
        if (!f.group) throw new KtaskError('KTASK_VALIDATION', 'Give --group (to move its offsets) or --into (to re-publish)', { field: 'group' })
        if (f.toOffset !== undefined || f.toTime !== undefined) throw new KtaskError('KTASK_VALIDATION', '--to-offset / --to-time only apply with --into', { field: 'to' })
        const plan = await ops.resetGroup({ group: f.group, topic: f.topic, partition: f.partition, start, dryRun: f.dryRun, force: f.force, createGroup: f.create })
        if (f.json) return printJson(plan)
        console.log(table(['partition', 'committed', 'new', 'messages to (re)process'], plan.partitions.map((p) => [p.partition, p.from, p.to, p.messages])))
        console.log(plan.applied ? `moved group ${plan.group} on ${plan.topic}` : 'dry run: nothing changed')
      } finally {
        await ops.close()
      }
    })
}
