/** The frame of every dashboard page: navigation, the open-service banner, the confirmation dialog. */
import { html, type Html } from './html.ts'

export interface PageOptions {
  title: string
  /** The navigation entry to mark as current. */
  section: 'overview' | 'tasks' | 'dlq' | 'flows' | 'schedules' | 'replay' | 'login'
  /** The service has a token (a logout button) or not (a banner says the dashboard is open). */
  auth: boolean
  /** Re-render <main> every this many ms (the page's own URL, as a fragment). */
  refreshMs?: number
}

const SECTIONS: [PageOptions['section'], string, string][] = [
  ['overview', 'Overview', '/ui'],
  ['tasks', 'Tasks', '/ui/tasks'],
  ['dlq', 'DLQ', '/ui/dlq'],
  ['flows', 'Flows', '/ui/flows'],
  ['schedules', 'Schedules', '/ui/schedules'],
  ['replay', 'Replay', '/ui/replay'],
]

export function page(o: PageOptions, body: Html): Html {
  const nav =
    o.section === 'login'
      ? html``
      : html`<nav aria-label="Main">
          <ul>
            ${SECTIONS.map(
              ([id, label, href]) =>
                html`<li><a href="${href}" ${o.section === id ? html` aria-current="page"` : html``}>${label}</a></li>`,
            )}
          </ul>
          ${
            o.auth
              ? html`<form method="post" action="/ui/logout" class="logout"><button type="submit" class="link">Log out</button></form>`
              : html``
          }
        </nav>`
  const banner = o.auth
    ? html``
    : html`<p class="banner" role="note">
        <strong>Open dashboard:</strong> this service has no token, so anyone who can reach it can see and change everything here. Start it
        with <code>--token</code> (or <code>KTASK_HTTP_TOKEN</code>) to require a login.
      </p>`
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${o.title} · ktask</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/ui/assets/dashboard.css" />
        <script src="/ui/assets/dashboard.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <a class="brand" href="/ui">ktask</a>
          ${nav}
        </header>
        ${banner}
        <main id="main" tabindex="-1" ${o.refreshMs ? html` data-refresh="${o.refreshMs}"` : html``}>${body}</main>
        <p id="status" role="status" aria-live="polite"></p>
        <dialog id="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-body">
          <form method="dialog">
            <h2 id="confirm-title">Confirm</h2>
            <div id="confirm-body"></div>
            <div class="actions">
              <button value="cancel" type="submit">Cancel</button>
              <button value="ok" type="submit" class="primary" id="confirm-ok">Confirm</button>
            </div>
          </form>
        </dialog>
      </body>
    </html> `
}
