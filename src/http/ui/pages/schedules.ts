/** Schedules with their next and last run; pause, resume, trigger. */
import type { HttpHost } from '../../../app/http-host.ts'
import { scheduleJson } from '../../schemas.ts'
import { badge, html, when } from '../html.ts'
import type { Rendered } from './rendered.ts'

export async function schedulesPage(host: HttpHost): Promise<Rendered> {
  const schedules = (await host.listSchedules()).map(scheduleJson)
  const url = (name: string, action: string): string => `/v1/schedules/${encodeURIComponent(name)}/${action}`
  return {
    title: 'Schedules',
    section: 'schedules',
    body: html`<h1>Schedules</h1>
      <table>
        <thead>
          <tr>
            <th scope="col">Schedule</th>
            <th scope="col">Task</th>
            <th scope="col">When</th>
            <th scope="col">State</th>
            <th scope="col">Next run</th>
            <th scope="col">Last run</th>
            <th scope="col" class="num">Fired</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          ${schedules.map(
            (s) =>
              html`<tr data-schedule="${s.name}">
                <th scope="row">${s.name}</th>
                <td>${s.task}</td>
                <td>
                  <code>${s.cron ?? `every ${String(s.every)}`}</code
                  >${s.timezone ? html` <span class="muted">${s.timezone}</span>` : html``}
                </td>
                <td>${s.removed ? badge('REMOVED') : s.paused ? badge('PAUSED') : badge('ACTIVE')}</td>
                <td>${when(s.nextRunAt)}</td>
                <td>
                  ${when(s.lastRunAt)}${s.lastTaskId ? html` <a href="/ui/tasks/${encodeURIComponent(s.lastTaskId)}">task</a>` : html``}
                </td>
                <td class="num">${s.fired}</td>
                <td class="actions">
                  ${
                    s.paused
                      ? html`<button type="button" data-action="post" data-url="${url(s.name, 'resume')}">Resume</button>`
                      : html`<button type="button" data-action="post" data-url="${url(s.name, 'pause')}">Pause</button>`
                  }
                  ${
                    s.declared
                      ? html`<button
                          type="button"
                          data-action="post"
                          data-url="${url(s.name, 'trigger')}"
                          data-confirm="Enqueue ${s.task} now, outside the schedule ${s.name}?"
                        >
                          Trigger now…
                        </button>`
                      : html``
                  }
                </td>
              </tr>`,
          )}
          ${
            schedules.length === 0
              ? html`<tr>
                  <td colspan="8" class="muted">No schedule</td>
                </tr>`
              : html``
          }
        </tbody>
      </table>`,
  }
}
