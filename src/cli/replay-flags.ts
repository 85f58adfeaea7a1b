/**
 * `ktask replay` flags → a group reset or a re-publish (pure, so every usage error is tested without
 * Kafka). A flag that only means something for the other mode is refused rather than silently ignored.
 */
import { KtaskError } from '../errors.ts'
import type { EndSpec, StartSpec } from '../operations/offsets.ts'
import type { RepublishOptions } from '../operations/republish.ts'
import type { ResetGroupOptions } from '../operations/reset-group.ts'

export interface ReplayFlags {
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

export type ReplayRequest =
  { mode: 'republish'; options: Omit<RepublishOptions, 'onProgress'> } | { mode: 'reset'; options: ResetGroupOptions }

function usage(message: string, field: string): KtaskError {
  return new KtaskError('KTASK_VALIDATION', message, { field })
}

function time(flag: string, value: string): Date {
  const d = new Date(value)
  if (Number.isNaN(d.getTime())) throw usage(`${flag} must be an ISO date-time (got ${JSON.stringify(value)})`, flag)
  return d
}

function startSpec(f: ReplayFlags): StartSpec {
  const given = [f.fromOffset !== undefined, f.fromTime !== undefined, f.earliest === true].filter(Boolean).length
  if (given !== 1) throw usage('Give exactly one of --from-offset, --from-time, --earliest', 'from')
  if (f.fromOffset !== undefined) return { fromOffset: f.fromOffset }
  if (f.fromTime !== undefined) return { fromTime: time('--from-time', f.fromTime) }
  return { earliest: true }
}

function endSpec(f: ReplayFlags): EndSpec {
  if (f.toOffset !== undefined && f.toTime !== undefined) throw usage('Give at most one of --to-offset, --to-time', 'to')
  if (f.toOffset !== undefined) return { toOffset: f.toOffset }
  if (f.toTime !== undefined) return { toTime: time('--to-time', f.toTime) }
  return undefined
}

export function parseReplayFlags(f: ReplayFlags): ReplayRequest {
  const start = startSpec(f)
  if (f.into !== undefined) {
    if (f.group !== undefined)
      throw usage("--group and --into exclude each other: --group moves a group's offsets, --into re-publishes into another topic", 'group')
    if (f.force) throw usage('--force only applies to a group reset (--group), not to --into', 'force')
    if (f.create) throw usage('--create only applies to a group reset (--group), not to --into', 'create')
    return {
      mode: 'republish',
      options: { topic: f.topic, partition: f.partition, start, end: endSpec(f), into: f.into, rate: f.rate, dryRun: f.dryRun },
    }
  }
  if (f.group === undefined) throw usage('Give --group (to move its offsets) or --into (to re-publish)', 'group')
  if (f.toOffset !== undefined || f.toTime !== undefined)
    throw usage('--to-offset / --to-time only apply with --into: a group reset moves where the group starts, it has no end', 'to')
  if (f.rate !== undefined)
    throw usage('--rate only applies with --into: a group reset moves offsets and sends nothing (limit the workers instead)', 'rate')
  return {
    mode: 'reset',
    options: { group: f.group, topic: f.topic, partition: f.partition, start, dryRun: f.dryRun, force: f.force, createGroup: f.create },
  }
}
