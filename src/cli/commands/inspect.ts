/** `ktask topics` and `ktask groups`: partitions, end offsets, committed offsets and lag. */
import type { Command } from 'commander'
import { createOps } from '../../operations/ops.ts'
import { connectionOptions, withAppOption, type ConnectionFlags } from '../connection.ts'
import { listOption } from '../options.ts'
import { printJson, table } from '../output.ts'

export function registerInspectCommands(program: Command): void {
  withAppOption(program.command('topics'))
    .description('topics with their partitions, offsets and message counts')
    .option('--prefix <prefix>', 'only topics starting with this (default: every topic)')
    .option('--topic <names>', 'only these topics (comma-separated)', listOption)
    .option('--json', 'print JSON')
    .action(async (f: ConnectionFlags & { prefix?: string; topic?: string[]; json?: boolean }) => {
      const ops = createOps(await connectionOptions(f))
      try {
        const topics = await ops.describeTopics({ prefix: f.prefix, topics: f.topic })
        if (f.json) return printJson(topics)
        console.log(
          table(
            ['topic', 'partitions', 'messages', 'end offsets'],
            topics.map((t) => [t.topic, t.partitions.length, t.messages, t.partitions.map((p) => p.high).join(' ')]),
          ),
        )
      } finally {
        await ops.close()
      }
    })

  withAppOption(program.command('groups'))
    .description('consumer groups: state, members, committed offsets and lag per partition')
    .option('--group <ids>', 'only these groups (comma-separated)', listOption)
    .option('--prefix <prefix>', 'only groups starting with this')
    .option('--json', 'print JSON')
    .action(async (f: ConnectionFlags & { group?: string[]; prefix?: string; json?: boolean }) => {
      const ops = createOps(await connectionOptions(f))
      try {
        const groups = await ops.describeGroups({ groups: f.group, prefix: f.prefix })
        if (f.json) return printJson(groups)
        const rows = groups.flatMap((g) =>
          g.topics.length === 0
            ? [[g.group, g.state, g.members, '-', '-', '-', '-', 0]]
            : g.topics.flatMap((t) =>
                t.partitions.map((p) => [g.group, g.state, g.members, t.topic, p.partition, p.committed, p.end, p.lag]),
              ),
        )
        console.log(table(['group', 'state', 'members', 'topic', 'partition', 'committed', 'end', 'lag'], rows))
      } finally {
        await ops.close()
      }
    })
}
