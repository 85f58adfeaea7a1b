/** Flows: the most recent ones, and one flow as a tree of its steps (by their place in the canvas) with states. */
import type { HttpHost } from '../../../app/http-host.ts'
import type { FlowStepStatus } from '../../../store/flow-status.ts'
import { badge, html, when, type Html } from '../html.ts'
import type { Rendered } from './rendered.ts'

interface Node {
  label: string
  step?: FlowStepStatus
  children: Map<string, Node>
}

/** Steps nested by the segments of their path: `chain[1].header[3]` sits under `chain[1]`. */
export function stepTree(steps: FlowStepStatus[]): Node {
  const root: Node = { label: '', children: new Map() }
  for (const step of steps) {
    let node = root
    for (const segment of step.path.split('.')) {
      let child = node.children.get(segment)
      if (!child) {
        child = { label: segment, children: new Map() }
        node.children.set(segment, child)
      }
      node = child
    }
    node.step = step
  }
  return root
}

function renderNode(node: Node): Html {
  const s = node.step
  const label = s
    ? html`<span class="step"
        ><code>${node.label}</code> ${s.task} ${badge(s.state)}
        ${s.attempts !== null ? html`<span class="muted">attempts ${s.attempts}</span>` : html``}
        ${s.role !== 'step' ? html`<span class="muted">(${s.role})</span>` : html``}
        <a href="/ui/tasks/${encodeURIComponent(s.taskId)}">task</a></span
      >`
    : html`<code>${node.label}</code>`
  const children = [...node.children.values()]
  return html`<li>
    ${label}${
      children.length > 0
        ? html`<ul>
            ${children.map(renderNode)}
          </ul>`
        : html``
    }
  </li>`
}

export async function flowListPage(host: HttpHost): Promise<Rendered> {
  const flows = await host.recentFlows(50)
  return {
    title: 'Flows',
    section: 'flows',
    body: html`<h1>Flows</h1>
      <form class="filters" method="get" action="/ui/flows/go" aria-label="Open a flow">
        <label>Workflow id <input name="id" required /></label>
        <button type="submit" class="primary">Open</button>
      </form>
      <table>
        <caption>
          The 50 most recent flows
        </caption>
        <thead>
          <tr>
            <th scope="col">Workflow id</th>
            <th scope="col">State</th>
            <th scope="col" class="num">Steps</th>
            <th scope="col" class="num">Failed</th>
            <th scope="col">Created</th>
            <th scope="col">Finished</th>
          </tr>
        </thead>
        <tbody>
          ${flows.map(
            (f) =>
              html`<tr>
                <td>
                  <a href="/ui/flows/${encodeURIComponent(f.workflowId)}"><code>${f.workflowId}</code></a>
                </td>
                <td>${badge(f.state)}</td>
                <td class="num">${f.steps}</td>
                <td class="num">${f.failed}</td>
                <td>${when(f.createdAt)}</td>
                <td>${when(f.finishedAt)}</td>
              </tr>`,
          )}
          ${
            flows.length === 0
              ? html`<tr>
                  <td colspan="6" class="muted">No flow yet</td>
                </tr>`
              : html``
          }
        </tbody>
      </table>`,
  }
}

export async function flowPage(host: HttpHost, workflowId: string): Promise<Rendered> {
  const flow = await host.flowStatus(workflowId)
  if (!flow) {
    return {
      title: 'Flow not found',
      section: 'flows',
      status: 404,
      body: html`<h1>Flow not found</h1>
        <p>No flow has the id <code>${workflowId}</code>.</p>
        <p><a href="/ui/flows">All flows</a></p>`,
    }
  }
  const final = flow.state !== 'RUNNING'
  return {
    title: `Flow ${workflowId}`,
    section: 'flows',
    ...(final ? {} : { refreshMs: 2000 }),
    body: html`<h1>Flow <code>${flow.workflowId}</code></h1>
      <dl class="facts card">
        <div>
          <dt>State</dt>
          <dd>${badge(flow.state)}</dd>
        </div>
        <div>
          <dt>On failure</dt>
          <dd>${flow.failurePolicy}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>${when(flow.createdAt)}</dd>
        </div>
        <div>
          <dt>Finished</dt>
          <dd>${when(flow.finishedAt)}</dd>
        </div>
      </dl>
      <h2>Steps</h2>
      <ul class="tree">
        ${[...stepTree(flow.steps).children.values()].map(renderNode)}
      </ul>`,
  }
}
