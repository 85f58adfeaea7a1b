/**
 * DLQ: every queue's dead-letter size; one queue's entries (filter, select, redrive with a dry-run count
 * and a confirmation); one message decoded with all its headers.
 */
import type { HttpHost } from '../../../app/http-host.ts'
import type { DlqEntry } from '../../../operations/dlq.ts'
import { badge, html, json, query, when, type Html } from '../html.ts'
import type { Rendered } from './rendered.ts'
import { utcDate } from './tasks.ts'

export interface DlqParams {
  task?: string
  errorClass?: string
  id?: string
  since?: string
  until?: string
  cursor?: string
}

export async function dlqIndexPage(host: HttpHost): Promise<Rendered> {
  const queues = await host.queues()
  return {
    title: 'Dead-letter queues',
    section: 'dlq',
    body: html`<h1>Dead-letter queues</h1>
      <table>
        <thead>
          <tr>
            <th scope="col">Queue</th>
            <th scope="col">DLQ topic</th>
            <th scope="col" class="num">Messages</th>
          </tr>
        </thead>
        <tbody>
          ${queues.map(
            (q) =>
              html`<tr>
                <td><a href="/ui/dlq/${encodeURIComponent(q.name)}">${q.name}</a></td>
                <td><code>${q.dlq.topic}</code></td>
                <td class="num">${q.dlq.messages}</td>
              </tr>`,
          )}
        </tbody>
      </table>`,
  }
}

const messageUrl = (queue: string, e: Pick<DlqEntry, 'partition' | 'offset'>): string =>
  `/ui/dlq/${encodeURIComponent(queue)}/${e.partition}/${e.offset}`

function entryRow(queue: string, e: DlqEntry): Html {
  const selectable = !e.redriven && e.stub === undefined
  const label = `Select ${e.taskId}`
  return html`<tr data-task-id="${e.taskId}">
    <td>${selectable ? html`<input type="checkbox" name="select" value="${e.taskId}" aria-label="${label}" />` : html``}</td>
    <td><a href="${messageUrl(queue, e)}">${e.partition}:${e.offset}</a></td>
    <td>
      ${e.task !== undefined ? html`<a href="/ui/tasks/${encodeURIComponent(e.taskId)}"><code>${e.taskId}</code></a>` : html`<code>${e.taskId}</code>`}
    </td>
    <td>${e.task ?? html`<span class="muted">event</span>`}</td>
    <td><code>${e.errorClass ?? '—'}</code></td>
    <td class="message">${e.errorMessage ?? ''}</td>
    <td>${e.stage ?? '—'}</td>
    <td class="num">${e.attempt}</td>
    <td><code>${e.originalTopic ?? '—'}</code></td>
    <td>${when(e.deadAt)}</td>
    <td>${e.redriven ? badge('REDRIVEN') : e.stub !== undefined ? html`<span title="${e.stub}">stub</span>` : html``}</td>
  </tr>`
}

export async function dlqQueuePage(host: HttpHost, queue: string, p: DlqParams): Promise<Rendered> {
  const since = utcDate(p.since)
  const until = utcDate(p.until)
  const filter = {
    ...(p.task ? { task: p.task } : {}),
    ...(p.errorClass ? { errorClass: p.errorClass } : {}),
    ...(p.id ? { ids: [p.id] } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
  }
  const page = await host.dlqPage(queue, { ...filter, ...(p.cursor ? { cursor: p.cursor } : {}), limit: 100 })
  const params = { task: p.task, errorClass: p.errorClass, id: p.id, since: p.since, until: p.until }
  // What "redrive all matching" sends: the filter as the JSON route takes it.
  const filterBody = {
    ...(p.task ? { task: p.task } : {}),
    ...(p.errorClass ? { errorClass: p.errorClass } : {}),
    ...(p.id ? { ids: [p.id] } : {}),
    ...(since ? { since: since.toISOString() } : {}),
    ...(until ? { until: until.toISOString() } : {}),
  }
  const redriveUrl = `/v1/dlq/${encodeURIComponent(queue)}/redrive`
  return {
    title: `DLQ ${queue}`,
    section: 'dlq',
    body: html`<h1>DLQ of <code>${queue}</code></h1>
      <p class="muted"><code>${page.topic}</code> · ${page.total} entr${page.total === 1 ? 'y' : 'ies'} match</p>
      <form class="filters" method="get" action="/ui/dlq/${encodeURIComponent(queue)}" role="search" aria-label="Filter entries">
        <label>Task <input name="task" value="${p.task ?? ''}" /></label>
        <label>Error class <input name="errorClass" value="${p.errorClass ?? ''}" /></label>
        <label>Task id <input name="id" value="${p.id ?? ''}" /></label>
        <label>Dead from (UTC) <input type="datetime-local" step="1" name="since" value="${p.since ?? ''}" /></label>
        <label>to (UTC) <input type="datetime-local" step="1" name="until" value="${p.until ?? ''}" /></label>
        <button type="submit" class="primary">Filter</button>
        <a href="/ui/dlq/${encodeURIComponent(queue)}">Clear</a>
      </form>
      <div class="actions">
        <button type="button" class="primary" data-redrive="${redriveUrl}" data-selection>Redrive selected…</button>
        <button
          type="button"
          data-redrive="${redriveUrl}"
          data-body="${json(Object.keys(filterBody).length > 0 ? filterBody : { all: true })}"
        >
          Redrive all ${Object.keys(filterBody).length > 0 ? 'matching the filter' : 'entries'}…
        </button>
      </div>
      <table class="dlq">
        <thead>
          <tr>
            <th scope="col"><input type="checkbox" data-select-all aria-label="Select all on this page" /></th>
            <th scope="col">Position</th>
            <th scope="col">Task id</th>
            <th scope="col">Task</th>
            <th scope="col">Error class</th>
            <th scope="col">Message</th>
            <th scope="col">Stage</th>
            <th scope="col" class="num">Attempt</th>
            <th scope="col">Original topic</th>
            <th scope="col">Dead at</th>
            <th scope="col"><span class="sr-only">Redriven</span></th>
          </tr>
        </thead>
        <tbody>
          ${page.entries.map((e) => entryRow(queue, e))}
          ${
            page.entries.length === 0
              ? html`<tr>
                  <td colspan="11" class="muted">No entry matches</td>
                </tr>`
              : html``
          }
        </tbody>
      </table>
      <nav class="pages" aria-label="Pages">
        ${p.cursor ? html`<a href="/ui/dlq/${encodeURIComponent(queue)}${query(params)}">First page</a>` : html``}
        ${page.nextCursor ? html`<a rel="next" href="/ui/dlq/${encodeURIComponent(queue)}${query({ ...params, cursor: page.nextCursor })}">Next page</a>` : html``}
      </nav>`,
  }
}

export async function dlqMessagePage(host: HttpHost, queue: string, partition: number, offset: number): Promise<Rendered> {
  const m = await host.dlqMessage(queue, partition, offset)
  const e = m.entry
  const redriveUrl = `/v1/dlq/${encodeURIComponent(queue)}/redrive`
  return {
    title: `DLQ ${queue} ${partition}:${offset}`,
    section: 'dlq',
    body: html`<h1>Dead-lettered message <code>${partition}:${offset}</code></h1>
      <p><a href="/ui/dlq/${encodeURIComponent(queue)}">All entries of ${queue}</a></p>
      <div class="card">
        <dl class="facts">
          <div>
            <dt>Task id</dt>
            <dd>
              ${e.task !== undefined ? html`<a href="/ui/tasks/${encodeURIComponent(e.taskId)}"><code>${e.taskId}</code></a>` : html`<code>${e.taskId}</code>`}
            </dd>
          </div>
          <div>
            <dt>Task</dt>
            <dd>${e.task ?? 'event'}</dd>
          </div>
          <div>
            <dt>Error class</dt>
            <dd><code>${e.errorClass ?? '—'}</code></dd>
          </div>
          <div>
            <dt>Stage</dt>
            <dd>${e.stage ?? '—'}</dd>
          </div>
          <div>
            <dt>Attempt</dt>
            <dd>${e.attempt}</dd>
          </div>
          <div>
            <dt>Original topic</dt>
            <dd><code>${e.originalTopic ?? '—'}</code></dd>
          </div>
          <div>
            <dt>Dead at</dt>
            <dd>${when(e.deadAt)}</dd>
          </div>
          <div>
            <dt>Key</dt>
            <dd><code>${m.key ?? '—'}</code></dd>
          </div>
          <div>
            <dt>Redriven</dt>
            <dd>${e.redriven ? 'yes' : 'no'}</dd>
          </div>
          <div class="wide">
            <dt>Error message</dt>
            <dd>${e.errorMessage ?? '—'}</dd>
          </div>
        </dl>
        ${
          e.redriven || e.stub !== undefined
            ? html``
            : html`<div class="actions">
                <button type="button" class="primary" data-redrive="${redriveUrl}" data-body="${json({ ids: [e.taskId] })}">
                  Redrive this message…
                </button>
              </div>`
        }
        <h2>Payload</h2>
        ${m.decodeError ? html`<p class="error">Cannot decode: ${m.decodeError}</p>` : html``}
        <pre>${json(m.payload, 2)}</pre>
        <h2>Headers</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Header</th>
              <th scope="col">Value</th>
            </tr>
          </thead>
          <tbody>
            ${Object.entries(m.headers)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(
                ([k, v]) =>
                  html`<tr>
                    <th scope="row"><code>${k}</code></th>
                    <td class="message"><code>${v}</code></td>
                  </tr>`,
              )}
          </tbody>
        </table>
      </div>`,
  }
}
