/** The login form: the token goes in a POST body, never in a URL. */
import { html } from '../html.ts'
import type { Rendered } from './rendered.ts'

export function loginPage(next: string, error?: string): Rendered {
  return {
    title: 'Log in',
    section: 'login',
    status: error ? 401 : 200,
    body: html`<h1>Log in to ktask</h1>
      <form method="post" action="/ui/login" class="card stack login">
        ${error ? html`<p class="error" role="alert">${error}</p>` : html``}
        <label>Token <input type="password" name="token" autocomplete="current-password" required autofocus /></label>
        <input type="hidden" name="next" value="${next}" />
        <button type="submit" class="primary">Log in</button>
        <p class="muted">
          The service's bearer token (<code>--token</code> / <code>KTASK_HTTP_TOKEN</code>). The browser keeps a session cookie for this
          tab's session, not the token.
        </p>
      </form>`,
  }
}
