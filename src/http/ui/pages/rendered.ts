/** What a page function returns: the layout wraps it (or <main> alone is sent, for a live refresh). */
import type { Html } from '../html.ts'
import type { PageOptions } from '../layout.ts'

export interface Rendered extends Omit<PageOptions, 'auth'> {
  body: Html
  /** HTTP status (200 unless a page says otherwise, e.g. 404). */
  status?: number
}
