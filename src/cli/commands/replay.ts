/**
 * `ktask replay` — move a stopped group to an offset or a time, or re-publish a range into another topic.
 */
import type { Command } from 'commander'
import { createOps } from '../../operations/ops.ts'
import { connectionOptions, withAppOption, type ConnectionFlags } from '../connection.ts'
import { intOption } from '../options.ts'
import { printJson, progress, table } from '../output.ts'
import { parseReplayFlags, type ReplayFlags } from '../replay-flags.ts'

export function registerReplayCommand(program: Command): void {
  withAppOption(program.command('replay'))
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
    .option(
      '--force',
      'with --group: if the group still has members (workers just stopped or killed whose sessions ' +
        'have not expired), wait up to 60 s for them to leave, then move. Kafka never moves the offsets of a group ' +
        'whose workers are running: that is refused even with --force — stop them first',
    )
    .option('--create', 'with --group: allow a group that has never committed')
    .option('--json', 'print JSON')
    .action(async (f: ReplayFlags & ConnectionFlags) => {
      const request = parseReplayFlags(f)
      const ops = createOps(await connectionOptions(f))
      try {
        if (request.mode === 'republish') {
          const into = request.options.into
          const bar = progress(`replay → ${into}`)
          const result = await ops.republish({ ...request.options, onProgress: (d, t) => bar.update(d, t) })
          bar.stop()
          if (f.json) return printJson(result)
          console.log(
            table(
              ['partition', 'from', 'to (excl.)', 'messages'],
              result.partitions.map((p) => [p.partition, p.from, p.to, p.messages]),
            ),
          )
          console.log(
            f.dryRun
              ? `dry run: nothing published (${result.partitions.reduce((s, p) => s + p.messages, 0)} messages would be)`
              : `published ${result.published} messages into ${into}`,
          )
          return
        }
        const plan = await ops.resetGroup(request.options)
        if (f.json) return printJson(plan)
        console.log(
          table(
            ['partition', 'committed', 'new', 'messages to (re)process'],
            plan.partitions.map((p) => [p.partition, p.from, p.to, p.messages]),
          ),
        )
        console.log(plan.applied ? `moved group ${plan.group} on ${plan.topic}` : 'dry run: nothing changed')
      } finally {
        await ops.close()
      }
    })
}
