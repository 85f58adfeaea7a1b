/**
 * What each kind of event stream sends. A task stream: `state` (the TaskStatus) when its state or attempt
 * changes, `progress` when only its progress does. A flow stream: `state` (the FlowStatus) when the flow's
 * state or any step's state or attempt changes.
 */
import type { FlowStatus } from '../store/flow-status.ts'
import { FINAL_STATES, type TaskStatus } from '../store/task-store.ts'
import type { StreamEvent, StreamFeed } from './event-streams.ts'
import { flowJson, isFinalFlowState, statusJson } from './schemas.ts'
import type { StatusPoller } from './status-poller.ts'

export function taskFeed(poller: StatusPoller<TaskStatus>): StreamFeed<TaskStatus> {
  return {
    poller,
    what: 'task',
    unknown: (taskId) => `No tracked task with id "${taskId}"`,
    named: (taskId) => ({ taskId }),
    isFinal: (s) => FINAL_STATES.includes(s.state),
    events(current, last): StreamEvent[] {
      if (!last || current.state !== last.state || current.attempts !== last.attempts)
        return [{ event: 'state', data: statusJson(current) }]
      if (current.progress !== last.progress || current.progressMessage !== last.progressMessage) {
        return [{ event: 'progress', data: { taskId: current.taskId, progress: current.progress, message: current.progressMessage } }]
      }
      return []
    },
  }
}

/** What a flow stream tells apart: the flow's state and each step's state and attempts. */
function shape(f: FlowStatus): string {
  return JSON.stringify([f.state, f.steps.map((s) => [s.state, s.attempts])])
}

export function flowFeed(poller: StatusPoller<FlowStatus>): StreamFeed<FlowStatus> {
  return {
    poller,
    what: 'flow',
    unknown: (workflowId) => `No flow with id "${workflowId}"`,
    named: (workflowId) => ({ workflowId }),
    isFinal: (f) => isFinalFlowState(f.state),
    events: (current, last) => (!last || shape(current) !== shape(last) ? [{ event: 'state', data: flowJson(current) }] : []),
  }
}
