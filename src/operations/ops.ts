/**
 * `createOps()` — operations on a running system, for scripts and the `ktask` CLI: replay a topic from
 * an offset or a time (moving a stopped group, or re-publishing a range elsewhere), list / show /
 * redrive the DLQ, and describe topics and groups. Takes the same connection options as `createApp`.
 */
import type { TransportAdmin } from '../kafka/transport.ts'
import { AppRuntime } from '../runtime/app-runtime.ts'
import type { AppOptions } from '../config/options.ts'
import { operationsLogLevel, resolveAppOptions } from '../config/resolve.ts'
import {
  listDlq,
  redriveDlq,
  showDlqMessage,
  type DlqEntry,
  type DlqFilter,
  type DlqMessage,
  type RedriveOptions,
  type RedriveResult,
} from './dlq.ts'
import { describeGroups, describeTopics, type GroupInfo, type TopicInfo } from './inspect.ts'
import { republishRange, type RepublishOptions, type RepublishResult } from './republish.ts'
import { resetGroupOffsets, type ResetGroupOptions, type ResetPlan } from './reset-group.ts'

export interface Ops {
  /** Moves a stopped group's committed offsets (dry run: only the plan). */
  resetGroup(options: ResetGroupOptions): Promise<ResetPlan>
  /** Re-publishes a range of a topic into another topic, keeping ids, keys and headers. */
  republish(options: RepublishOptions): Promise<RepublishResult>
  listDlq(dlqTopic: string, filter?: DlqFilter): Promise<DlqEntry[]>
  showDlq(dlqTopic: string, partition: number, offset: number): Promise<DlqMessage>
  /** Resends DLQ messages (all, or those matching the filter) — never the same one twice. Needs the database. */
  redriveDlq(dlqTopic: string, options?: RedriveOptions): Promise<RedriveResult>
  describeTopics(options?: { prefix?: string; topics?: string[] }): Promise<TopicInfo[]>
  describeGroups(options?: { groups?: string[]; prefix?: string }): Promise<GroupInfo[]>
  close(): Promise<void>
}

export function createOps(options: AppOptions = {}): Ops {
  const runtime = new AppRuntime(resolveAppOptions({ ...operationsLogLevel(), ...options }))
  const admin = (): Promise<TransportAdmin> => runtime.admin()
  const pool = () => runtime.pool()
  return {
    async resetGroup(o) {
      return resetGroupOffsets(runtime.transport, await admin(), o)
    },
    async republish(o) {
      return republishRange(runtime.transport, await admin(), () => runtime.producer(), o)
    },
    async listDlq(dlqTopic, filter) {
      if (runtime.hasDatabase) await runtime.ensureMigrated()
      return listDlq({ transport: runtime.transport, admin: await admin(), pool: runtime.hasDatabase ? pool : undefined }, dlqTopic, filter)
    },
    async showDlq(dlqTopic, partition, offset) {
      if (runtime.hasDatabase) await runtime.ensureMigrated()
      return showDlqMessage(
        { transport: runtime.transport, admin: await admin(), pool: runtime.hasDatabase ? pool : undefined },
        runtime.codec,
        dlqTopic,
        partition,
        offset,
      )
    },
    async redriveDlq(dlqTopic, o) {
      await runtime.ensureMigrated()
      return redriveDlq({ transport: runtime.transport, admin: await admin(), pool, producer: () => runtime.producer() }, dlqTopic, o)
    },
    async describeTopics(o) {
      return describeTopics(await admin(), o)
    },
    async describeGroups(o) {
      return describeGroups(await admin(), o)
    },
    close: () => runtime.close(),
  }
}
