/** Overview: every queue and consumer — partitions, offsets, lag, throughput, retry tiers, DLQ — and the groups. */
import type { HttpHost } from '../../../app/http-host.ts'
import type { QueueInfo } from '../../../app/operations-host.ts'
import type { GroupInfo } from '../../../operations/inspect.ts'
import { badge, html, type Html } from '../html.ts'
import type { Rendered } from './rendered.ts'

const rate = (n: number | null): string => (n === null ? '—' : n < 10 ? n.toFixed(1) : Math.round(n).toString())

function queueSection(q: QueueInfo): Html {
  const id = `queue-${q.name}`
  return html`<section class="card" aria-labelledby="${id}" data-queue="${q.name}">
    <h2 id="${id}">${q.name} <span class="muted">${q.kind === 'queue' ? 'queue' : 'consumer'}</span></h2>
    <dl class="facts">
      <div>
        <dt>Topic</dt>
        <dd><code>${q.topic}</code></dd>
      </div>
      <div>
        <dt>Group</dt>
        <dd>${badge(q.state)} ${q.members} member${q.members === 1 ? '' : 's'}</dd>
      </div>
      <div>
        <dt>Lag</dt>
        <dd data-field="lag">${q.lag}</dd>
      </div>
      <div>
        <dt>Enqueued / s</dt>
        <dd>${rate(q.throughput.enqueuedPerSec)}</dd>
      </div>
      <div>
        <dt>Processed / s</dt>
        <dd>${rate(q.throughput.processedPerSec)}</dd>
      </div>
      <div>
        <dt>DLQ</dt>
        <dd>
          <a href="/ui/dlq/${encodeURIComponent(q.name)}" data-field="dlq">${q.dlq.messages} message${q.dlq.messages === 1 ? '' : 's'}</a>
        </dd>
      </div>
    </dl>
    <table>
      <caption>
        Partitions of ${q.topic}
      </caption>
      <thead>
        <tr>
          <th scope="col">Partition</th>
          <th scope="col" class="num">End offset</th>
          <th scope="col" class="num">Committed</th>
          <th scope="col" class="num">Lag</th>
        </tr>
      </thead>
      <tbody>
        ${q.partitions.map(
          (p) =>
            html`<tr data-partition="${p.partition}">
              <td>${p.partition}</td>
              <td class="num">${p.end}</td>
              <td class="num">${p.committed ?? '—'}</td>
              <td class="num">${p.lag}</td>
            </tr>`,
        )}
        ${
          q.partitions.length === 0
            ? html`<tr>
                <td colspan="4" class="muted">The topic does not exist yet</td>
              </tr>`
            : html``
        }
      </tbody>
    </table>
    ${
      q.retryTiers.length === 0
        ? html`<p class="muted">No retry tier topics yet.</p>`
        : html`<table>
            <caption>
              Retry tiers
            </caption>
            <thead>
              <tr>
                <th scope="col">Tier</th>
                <th scope="col" class="num">Waiting</th>
                <th scope="col" class="num">Retained</th>
              </tr>
            </thead>
            <tbody>
              ${q.retryTiers.map(
                (t) =>
                  html`<tr>
                    <td><code>${t.topic}</code></td>
                    <td class="num">${t.lag}</td>
                    <td class="num">${t.messages}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </section>`
}

function groupsTable(groups: GroupInfo[]): Html {
  return html`<section class="card" aria-labelledby="groups">
    <h2 id="groups">Consumer groups</h2>
    <table>
      <thead>
        <tr>
          <th scope="col">Group</th>
          <th scope="col">State</th>
          <th scope="col" class="num">Members</th>
          <th scope="col">Topics</th>
          <th scope="col" class="num">Lag</th>
        </tr>
      </thead>
      <tbody>
        ${groups.map(
          (g) =>
            html`<tr>
              <td><code>${g.group}</code></td>
              <td>${badge(g.state)}</td>
              <td class="num">${g.members}</td>
              <td>${g.topics.map((t) => html`<div><code>${t.topic}</code> <span class="muted">lag ${t.lag}</span></div>`)}</td>
              <td class="num">${g.lag}</td>
            </tr>`,
        )}
        ${
          groups.length === 0
            ? html`<tr>
                <td colspan="5" class="muted">No consumer group has committed yet</td>
              </tr>`
            : html``
        }
      </tbody>
    </table>
  </section>`
}

export async function overviewPage(host: HttpHost): Promise<Rendered> {
  const [queues, groups] = await Promise.all([host.queues(), host.groups()])
  return {
    title: 'Overview',
    section: 'overview',
    refreshMs: 3000,
    body: html`<h1>Overview</h1>
      <p class="muted">
        Refreshes every 3 seconds. Throughput is measured between refreshes from the topics' end offsets and the group's commits.
      </p>
      ${queues.map(queueSection)} ${queues.length === 0 ? html`<p>This app declares no queue or consumer.</p>` : html``}
      ${groupsTable(groups)}`,
  }
}
