/** Replay: move a stopped group's committed offsets; the plan (a dry run) is shown and confirmed first. */
import type { HttpHost } from '../../../app/http-host.ts'
import { html } from '../html.ts'
import type { Rendered } from './rendered.ts'

export async function replayPage(host: HttpHost): Promise<Rendered> {
  const queues = await host.queues()
  const topics = [...new Set(queues.flatMap((q) => [q.topic, ...q.retryTiers.map((t) => t.topic)]))]
  return {
    title: 'Replay',
    section: 'replay',
    body: html`<h1>Replay</h1>
      <p>
        Moves a group's committed offsets so its workers process messages again (or skip ahead). Kafka only allows it while the group has no
        members: stop its workers first. The plan is shown before anything moves.
      </p>
      <form class="card stack" data-replay>
        <label
          >Group
          <select name="group" required>
            ${queues.map((q) => html`<option value="${q.groupId}" data-topic="${q.topic}">${q.groupId} (${q.state}, ${q.members} members)</option>`)}
          </select>
        </label>
        <label
          >Topic
          <input name="topic" list="replay-topics" required value="${queues[0]?.topic ?? ''}" />
          <datalist id="replay-topics">${topics.map((t) => html`<option value="${t}"></option>`)}</datalist>
        </label>
        <label>Partition <span class="muted">(empty: every partition)</span> <input name="partition" type="number" min="0" /></label>
        <fieldset>
          <legend>Start from</legend>
          <label><input type="radio" name="start" value="earliest" checked /> The earliest retained message</label>
          <label
            ><input type="radio" name="start" value="offset" /> Offset <input name="fromOffset" type="number" min="0" aria-label="Offset"
          /></label>
          <label
            ><input type="radio" name="start" value="time" /> Time (UTC)
            <input name="fromTime" type="datetime-local" step="1" aria-label="Time (UTC)"
          /></label>
        </fieldset>
        <div class="actions"><button type="submit" class="primary">Plan the reset…</button></div>
      </form>
      <section aria-live="polite" id="replay-result"></section>`,
  }
}
