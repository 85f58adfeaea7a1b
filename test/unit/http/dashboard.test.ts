/** The dashboard's building blocks: escaping templates, the session cookie, the flow tree. */
import { describe, expect, it } from 'vitest'
import { html, query } from '../../../src/http/ui/html.ts'
import { stepTree } from '../../../src/http/ui/pages/flows.ts'
import { utcDate } from '../../../src/http/ui/pages/tasks.ts'
import { cookieValue, issueSession, sameToken, SESSION_MS, validSession } from '../../../src/http/ui/session.ts'
import type { FlowStepStatus } from '../../../src/store/flow-status.ts'

describe('html templates', () => {
  it('escape every interpolated value (names, error messages, headers) but not nested fragments', () => {
    const evil = `<script>alert("x")</script>&'`
    expect(html`<p title="${evil}">${evil}</p>`.value).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p>',
    )
    const items = ['a<', 'b'].map((x) => html`<li>${x}</li>`)
    // Prettier lays a template over several lines: compare without the whitespace between tags.
    expect(
      html`<ul>
        ${items}
      </ul>`.value.replace(/>\s+</g, '><'),
    ).toBe('<ul><li>a&lt;</li><li>b</li></ul>')
    expect(html`${null}${undefined}${false}${0}${{ a: '<' }}`.value).toBe('0{&quot;a&quot;:&quot;&lt;&quot;}')
    expect(query({ state: 'DEAD', task: undefined, cursor: 'a b&c' })).toBe('?state=DEAD&cursor=a+b%26c')
  })

  it('read a datetime-local value (no zone) as UTC', () => {
    expect(utcDate('2026-12-01T10:00')?.toISOString()).toBe('2026-12-01T10:00:00.000Z')
    expect(utcDate('2026-12-01T10:00:05+02:00')?.toISOString()).toBe('2026-12-01T08:00:05.000Z')
    expect(utcDate('not a date')).toBeUndefined()
  })
})

describe('dashboard session', () => {
  it('is an HMAC keyed by the token, never the token; it expires, and another token does not accept it', () => {
    const now = Date.now()
    const session = issueSession('secret-token', now)
    expect(session).not.toContain('secret-token')
    expect(validSession(session, 'secret-token', now + 1000)).toBe(true)
    expect(validSession(session, 'other-token', now + 1000)).toBe(false)
    expect(validSession(session, 'secret-token', now + SESSION_MS + 1)).toBe(false)
    expect(
      validSession(
        session.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
        'secret-token',
        now,
      ),
    ).toBe(false)
    expect(validSession(`v1.${now + 3_600_000}.${session.split('.')[2]}`, 'secret-token', now)).toBe(false)
    expect(validSession(undefined, 'secret-token', now)).toBe(false)
    expect(sameToken('secret-token', 'secret-token')).toBe(true)
    expect(sameToken('secret-toke', 'secret-token')).toBe(false)
    expect(cookieValue('a=1; ktask_session=v1.2.x; b=3', 'ktask_session')).toBe('v1.2.x')
  })
})

describe('flow tree', () => {
  it('nests steps by the segments of their canvas path', () => {
    const step = (path: string): FlowStepStatus =>
      ({
        path,
        step: 0,
        task: 't',
        taskId: path,
        role: 'step',
        state: 'PENDING',
        waitingFor: 0,
        dependants: [],
      }) as unknown as FlowStepStatus
    const tree = stepTree(['chain[0]', 'chain[1].header[0]', 'chain[1].header[1]', 'chain[1].callback'].map(step))
    const shape = (n: ReturnType<typeof stepTree>): unknown =>
      [...n.children.values()].map((c) => [c.label, c.step?.path ?? null, shape(c)])
    expect(shape(tree)).toEqual([
      ['chain[0]', 'chain[0]', []],
      [
        'chain[1]',
        null,
        [
          ['header[0]', 'chain[1].header[0]', []],
          ['header[1]', 'chain[1].header[1]', []],
          ['callback', 'chain[1].callback', []],
        ],
      ],
    ])
  })
})
