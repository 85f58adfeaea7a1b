/** Tasks: the filterable, paginated list, and one task's page (live through its event stream, cancel). */
import type { HttpHost } from '../../../app/http-host.ts'
import { FINAL_STATES, type TaskState, type TaskStatus } from '../../../store/task-store.ts'
import { statesOf } from '../../routes/operations.ts'
import { statusJson } from '../../schemas.ts'
import { badge, html, json, query, when, type Html } from '../html.ts'
import type { Rendered } from './rendered.ts'

export interface TaskListParams {
  state?: string
  task?: string
  queue?: string
  from?: string
  to?: string
  cursor?: string
}

const STATES: TaskState[] = ['PENDING', 'SCHEDULED', 'STARTED', 'RETRYING', 'SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED']

/** A datetime-local value (no zone) is read as UTC, like every time the dashboard shows. */
export function utcDate(value: string | undefined): Date | undefined {
  if (!value) return undefined
  const d = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(value) ? value : `${value}Z`)
  return Number.isNaN(d.getTime()) ? undefined : d
}

function select(name: string, label: string, options: string[], value: string | undefined): Html {
  return html`<label
    >${label}
    <select name="${name}">
      <option value="">All</option>
      ${options.map((o) => html`<option value="${o}" ${o === value ? html` selected` : html``}>${o}</option>`)}
    </select>
  </label>`
}

function filterForm(host: HttpHost, p: TaskListParams): Html {
  const queues = [...new Set(host.taskNames().map((n) => host.getTask(n).queue))].sort()
  return html`<form class="filters" method="get" action="/ui/tasks" role="search" aria-label="Filter tasks">
    ${select('state', 'State', STATES, p.state)} ${select('task', 'Task', host.taskNames().sort(), p.task)}
    ${select('queue', 'Queue', queues, p.queue)}
    <label>Enqueued from (UTC) <input type="datetime-local" step="1" name="from" value="${p.from ?? ''}" /></label>
    <label>to (UTC) <input type="datetime-local" step="1" name="to" value="${p.to ?? ''}" /></label>
    <button type="submit" class="primary">Filter</button>
    <a href="/ui/tasks">Clear</a>
  </form>`
}

export async function taskListPage(host: HttpHost, p: TaskListParams): Promise<Rendered> {
  const from = utcDate(p.from)
  const to = utcDate(p.to)
  const page = await host.listTasks(
    {
      states: statesOf(p.state),
      ...(p.task ? { name: p.task } : {}),
      ...(p.queue ? { queue: p.queue } : {}),
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
    },
    { ...(p.cursor ? { cursor: p.cursor } : {}), limit: 50 },
  )
  const filters = { state: p.state, task: p.task, queue: p.queue, from: p.from, to: p.to }
  return {
    title: 'Tasks',
    section: 'tasks',
    body: html`<h1>Tasks</h1>
      ${filterForm(host, p)}
      <table class="tasks">
        <caption>
          Tracked tasks, newest first${p.cursor ? ' (continued)' : ''}
        </caption>
        <thead>
          <tr>
            <th scope="col">Task id</th>
            <th scope="col">Task</th>
            <th scope="col">Queue</th>
            <th scope="col">State</th>
            <th scope="col" class="num">Attempts</th>
            <th scope="col">Enqueued</th>
            <th scope="col">Finished</th>
          </tr>
        </thead>
        <tbody>
          ${page.tasks.map(
            (t) =>
              html`<tr>
                <td>
                  <a href="/ui/tasks/${encodeURIComponent(t.taskId)}"><code>${t.taskId}</code></a>
                </td>
                <td>${t.name}</td>
                <td>${t.queue}</td>
                <td>${badge(t.state)}</td>
                <td class="num">${t.attempts}</td>
                <td>${when(t.enqueuedAt)}</td>
                <td>${when(t.finishedAt)}</td>
              </tr>`,
          )}
          ${
            page.tasks.length === 0
              ? html`<tr>
                  <td colspan="7" class="muted">No task matches</td>
                </tr>`
              : html``
          }
        </tbody>
      </table>
      <nav class="pages" aria-label="Pages">
        ${p.cursor ? html`<a href="/ui/tasks${query(filters)}">First page</a>` : html``}
        ${page.nextCursor ? html`<a href="/ui/tasks${query({ ...filters, cursor: page.nextCursor })}" rel="next">Next page</a>` : html``}
      </nav>`,
  }
}

function progressOf(t: TaskStatus): Html {
  const value = t.progress ?? 0
  return html`<progress max="1" value="${value}" data-field="progress" aria-label="Progress">${Math.round(value * 100)}%</progress>
    <span data-field="progressText">${Math.round(value * 100)}%</span> <span data-field="progressMessage">${t.progressMessage ?? ''}</span>`
}

export async function taskPage(host: HttpHost, taskId: string): Promise<Rendered> {
  const t = await host.status(taskId)
  if (!t) {
    return {
      title: 'Task not found',
      section: 'tasks',
      status: 404,
      body: html`<h1>Task not found</h1>
        <p>No tracked task has the id <code>${taskId}</code>.</p>
        <p><a href="/ui/tasks">All tasks</a></p>`,
    }
  }
  const flow = await host.flowOfTask(taskId)
  const cancellable = t.state === 'PENDING' || t.state === 'SCHEDULED'
  return {
    title: `Task ${t.name}`,
    section: 'tasks',
    body: html`<h1>Task <code>${t.name}</code></h1>
      <div class="card" data-task="${t.taskId}" data-final="${json(FINAL_STATES)}" data-status="${json(statusJson(t))}">
        <dl class="facts">
          <div>
            <dt>Id</dt>
            <dd><code>${t.taskId}</code></dd>
          </div>
          <div>
            <dt>State</dt>
            <dd data-field="state">${badge(t.state)}</dd>
          </div>
          <div>
            <dt>Attempts</dt>
            <dd data-field="attempts">${t.attempts}</dd>
          </div>
          <div>
            <dt>Queue</dt>
            <dd>${t.queue}</dd>
          </div>
          <div>
            <dt>Enqueued</dt>
            <dd>${when(t.enqueuedAt)}</dd>
          </div>
          <div>
            <dt>Due</dt>
            <dd>${when(t.runAt)}</dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd data-field="startedAt">${when(t.startedAt)}</dd>
          </div>
          <div>
            <dt>Finished</dt>
            <dd data-field="finishedAt">${when(t.finishedAt)}</dd>
          </div>
          <div class="wide">
            <dt>Progress</dt>
            <dd>${progressOf(t)}</dd>
          </div>
          ${
            flow
              ? html`<div>
                  <dt>Flow</dt>
                  <dd>
                    <a href="/ui/flows/${encodeURIComponent(flow)}"><code>${flow}</code></a>
                  </dd>
                </div>`
              : html``
          }
        </dl>
        <h2>Result</h2>
        <pre data-field="result">${t.result === null || t.result === undefined ? '—' : json(t.result, 2)}</pre>
        <h2>Error</h2>
        <pre data-field="error">
${t.error ? `${t.error.class}: ${t.error.message}\nstage ${t.error.stage}, attempt ${t.error.attempt}` : '—'}</pre>
        <h2>Headers</h2>
        <p>
          Tracked state keeps no message headers: a dead-lettered task's headers are on
          <a href="/ui/dlq/${encodeURIComponent(t.queue)}${query({ id: t.taskId })}">its DLQ entries</a>.
        </p>
        <div class="actions">
          ${
            cancellable
              ? html`<button type="button" class="danger" data-action="cancel" data-url="/v1/tasks/${encodeURIComponent(t.taskId)}">
                  Cancel task
                </button>`
              : html``
          }
          <a href="/ui/tasks${query({ task: t.name })}">Other ${t.name} tasks</a>
        </div>
      </div>`,
  }
}
