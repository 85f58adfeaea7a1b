/**
 * The dashboard in a real browser (headless Chromium) against a real `ktask serve` and `ktask worker`,
 * with Kafka and Postgres: login, the overview's lag, a dead-lettered task redriven from the DLQ page with
 * a dry-run count and a confirmation until its page shows SUCCEEDED, schedules, flows, a replay plan.
 * Every page is screenshotted into docs/screenshots/ and checked for labelled controls and WCAG AA text
 * contrast; the browser's console must stay free of errors throughout.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildDashboardApp } from '../../fixtures/dashboard-app.ts'
import { launchBrowser, newLoggedPage } from '../../helpers/browser.ts'
import { registerCleanup } from '../../helpers/cleanup.ts'
import { uniqueName } from '../../helpers/infra.ts'
import { CLI, spawnNode, startWorkerProcess, type SpawnedProcess } from '../../helpers/processes.ts'
import { waitFor } from '../../helpers/wait.ts'

const FIXTURE = fileURLToPath(new URL('../../fixtures/dashboard-app.ts', import.meta.url))
const SCREENSHOTS = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url))
const TOKEN = 'dashboard-test-token'

let browser: Browser
let page: Page
let errors: string[]
let address: string
let prefix: string
let succeedFile: string
let worker: SpawnedProcess
/** When this file started, to the second: ktask.tasks is shared by every test's prefix, so lists are cut here. */
let startedAt: Date
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${address}${path}`, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return (await res.json()) as T
}

/** Every visible form control has an accessible name (a <label>, aria-label or aria-labelledby). */
async function unlabelledControls(): Promise<string[]> {
  // Runs in the page (a string: this file is type-checked without the DOM library).
  return page.evaluate(`[...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden')
    .filter((el) => (el.labels?.length ?? 0) === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    .map((el) => el.outerHTML.slice(0, 120))`)
}

/**
 * Text whose colour is under WCAG AA contrast with the background it is drawn on: 4.5:1, or 3:1 for large
 * text (24 px, or 18.66 px bold). The background is the nearest opaque one among the element's ancestors.
 */
async function lowContrastText(): Promise<string[]> {
  return page.evaluate(`(() => {
    const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number)
    const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4 })
      .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0)
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor)
        if (c.length >= 3 && (c.length === 3 || c[3] > 0.9)) return c
      }
      return [255, 255, 255]
    }
    const out = []
    for (const el of document.querySelectorAll('body *')) {
      const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent.trim()).join('')
      if (!text || el.getClientRects().length === 0) continue
      const style = getComputedStyle(el)
      if (style.visibility === 'hidden' || el.closest('[hidden], .sr-only')) continue
      const [a, b] = [lum(rgb(style.color)), lum(background(el))]
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)
      const size = parseFloat(style.fontSize)
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700)
      if (ratio < (large ? 3 : 4.5)) out.push(el.tagName.toLowerCase() + ' "' + text.slice(0, 30) + '" ' + ratio.toFixed(2) + ':1')
    }
    return out
  })()`)
}

async function shot(name: string): Promise<void> {
  expect(await unlabelledControls()).toEqual([])
  expect(await lowContrastText()).toEqual([])
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

/** Opens a dashboard page and returns how long it took to load (not asserted; the bench measures). */
async function open(path: string): Promise<number> {
  const started = Date.now()
  const res = await page.goto(path, { waitUntil: 'load' })
  expect(res?.status(), path).toBe(200)
  return Date.now() - started
}

describe('dashboard (headless Chromium, real ktask serve + worker)', () => {
  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true })
    startedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 1000)
    prefix = uniqueName('dash')
    succeedFile = join(tmpdir(), `${prefix}.succeed`)
    registerCleanup(() => rmSync(succeedFile, { force: true }))
    const env = { KTASK_PREFIX: prefix, KTASK_TEST_SUCCEED_FILE: succeedFile }
    const serve = spawnNode([CLI, 'serve', FIXTURE, '--port', '0', '--host', '127.0.0.1', '--token', TOKEN], { name: 'serve', env })
    const line = await serve.waitForLine(/HTTP service listening/, 90_000)
    address = (JSON.parse(line) as { address: string }).address
    // Only billing is worked: the reports queue keeps a lag for the overview to show.
    worker = await startWorkerProcess(FIXTURE, ['--queues', 'billing'], { name: 'worker', env })
    browser = await launchBrowser()
    ;({ page, errors } = await newLoggedPage(browser, address))
  })

  afterAll(() => {
    // Every test ran with the same page: its console must have stayed clean.
    expect(errors).toEqual([])
  })

  it('an unauthenticated visit gets the login form; the token logs in and returns to the page asked for', async () => {
    const res = await page.goto('/ui/dlq')
    expect(res?.status()).toBe(200)
    expect(new URL(page.url()).pathname).toBe('/ui/login')
    expect(page.url()).not.toContain(TOKEN)
    await page.getByLabel('Token').waitFor()
    await shot('login')
    await page.getByLabel('Token').fill(TOKEN)
    await page.getByLabel('Token').press('Enter')
    await page.waitForURL('**/ui/dlq')
    expect(page.url()).not.toContain(TOKEN)
    await page.getByRole('heading', { name: 'Dead-letter queues' }).waitFor()
    const cookies = await page.context().cookies()
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite, c.value.includes(TOKEN)])).toEqual([
      ['ktask_session', true, 'Strict', false],
    ])
  })

  it('the overview shows every queue with its lag per partition, retry tiers and DLQ size', async () => {
    for (let i = 0; i < 5; i++) await api('POST', '/v1/tasks/report.build', { customer: `c${i}`, cents: i })
    await waitFor(
      async () =>
        (await api<{ queues: { name: string; lag: number }[] }>('GET', '/v1/queues')).queues.find((q) => q.name === 'reports')?.lag === 5,
    )
    await open('/ui')
    const reports = page.locator('section[data-queue="reports"]')
    await reports.getByRole('heading', { name: /reports/ }).waitFor()
    expect(await reports.locator('[data-field="lag"]').textContent()).toBe('5')
    expect(await reports.locator('tr[data-partition="0"] td').allTextContents()).toEqual(['0', '5', '—', '5'])
    expect(
      await page
        .locator('section[data-queue="billing"]')
        .getByRole('heading', { name: /billing/ })
        .count(),
    ).toBe(1)
    // The page refreshes itself: a sixth task shows up without a reload.
    await api('POST', '/v1/tasks/report.build', { customer: 'c6', cents: 6 })
    // A locator, not waitForFunction: the page's CSP (script-src 'self') forbids the eval a string predicate needs.
    await reports.locator('[data-field="lag"]', { hasText: /^6$/ }).waitFor({ timeout: 15_000 })
    await shot('overview')
  })

  it('a dead-lettered task appears in the DLQ page, is redriven from it (dry run, confirmation) and its page shows SUCCEEDED', async () => {
    const { taskId } = await api<{ taskId: string }>('POST', '/v1/tasks/invoice.send', { customer: 'acme', cents: 4200 })
    await waitFor(async () => (await api<{ state: string }>('GET', `/v1/tasks/${taskId}`)).state === 'DEAD', { timeoutMs: 60_000 })
    await waitFor(async () => (await api<{ total: number }>('GET', '/v1/dlq/billing')).total === 1, { timeoutMs: 30_000 })

    await open('/ui/dlq/billing')
    const row = page.locator(`tr[data-task-id="${taskId}"]`)
    expect(await row.locator('td').nth(4).textContent()).toBe('PaymentGatewayError')
    expect(await row.locator('td').nth(5).textContent()).toBe('gateway refused acme')
    await shot('dlq')

    // The message itself: decoded payload and every header.
    await row.getByRole('link', { name: /^\d+:\d+$/ }).click()
    await page.getByRole('heading', { name: /Dead-lettered message/ }).waitFor()
    expect(await page.locator('pre').first().textContent()).toContain('"customer": "acme"')
    expect(await page.getByRole('rowheader', { name: 'ktask-error-class' }).count()).toBe(1)
    await shot('dlq-message')

    // Back to the list, by keyboard only: select the entry, open the dry run, confirm.
    await page.goBack()
    await page.getByRole('checkbox', { name: `Select ${taskId}` }).focus()
    await page.keyboard.press('Space')
    await page.getByRole('button', { name: 'Redrive selected…' }).focus()
    await page.keyboard.press('Enter')
    const dialog = page.getByRole('dialog')
    await dialog.getByText('Dry run: 1 entry matches.').waitFor()
    expect(await dialog.getByRole('cell', { name: `${prefix}.billing` }).count()).toBe(1)
    await shot('dlq-redrive-confirm')
    // Escape cancels: nothing is sent.
    await page.keyboard.press('Escape')
    await page.getByText('Redrive cancelled.').waitFor()
    expect((await api<{ entries: { redriven: boolean }[] }>('GET', '/v1/dlq/billing')).entries[0]!.redriven).toBe(false)

    writeFileSync(succeedFile, 'the gateway is back')
    await page.getByRole('button', { name: 'Redrive selected…' }).click()
    await dialog.getByText('Dry run: 1 entry matches.').waitFor()
    // The confirm button has the focus: Enter confirms.
    await page.keyboard.press('Enter')
    await page.getByText('Redriven: 1 message sent.').waitFor({ timeout: 30_000 })
    await page.locator(`tr[data-task-id="${taskId}"] [data-state="REDRIVEN"]`).waitFor({ timeout: 15_000 })

    await open(`/ui/tasks/${taskId}`)
    // Live through the task's event stream: no reload.
    await page.locator('[data-field="state"] [data-state="SUCCEEDED"]').waitFor({ timeout: 60_000 })
    expect(await page.locator('[data-field="result"]').textContent()).toContain('R-acme-4200')
    await shot('task')
  })

  it('the task list filters by state and task and pages with a cursor', async () => {
    await open('/ui/tasks')
    await page.locator('select[name="state"]').selectOption('PENDING')
    await page.locator('select[name="task"]').selectOption('report.build')
    await page.locator('input[name="from"]').fill(startedAt.toISOString().slice(0, 19))
    await page.getByRole('button', { name: 'Filter' }).click()
    await page.waitForURL(/state=PENDING/)
    expect(await page.locator('table.tasks tbody tr').count()).toBe(6)
    await shot('tasks')
    const since = `task=report.build&from=${startedAt.toISOString()}`
    const page1 = await api<{ tasks: unknown[]; nextCursor: string }>('GET', `/v1/tasks?${since}&limit=4`)
    const page2 = await api<{ tasks: unknown[]; nextCursor: string | null }>('GET', `/v1/tasks?${since}&limit=4&cursor=${page1.nextCursor}`)
    expect([page1.tasks.length, page2.tasks.length, page2.nextCursor]).toEqual([4, 2, null])
  })

  it('schedules show their next run and pause / resume from the page; flows show as a tree', async () => {
    await open('/ui/schedules')
    const row = page.locator('tr[data-schedule="nightly-report"]')
    await row.getByRole('button', { name: 'Pause' }).click()
    await page.locator('tr[data-schedule="nightly-report"] [data-state="PAUSED"]').waitFor({ timeout: 15_000 })
    await page.locator('tr[data-schedule="nightly-report"]').getByRole('button', { name: 'Resume' }).click()
    await page.locator('tr[data-schedule="nightly-report"] [data-state="ACTIVE"]').waitFor({ timeout: 15_000 })
    await shot('schedules')

    const { app, flow } = buildDashboardApp(prefix, succeedFile)
    registerCleanup(() => app.close())
    const { workflowId } = await app.enqueueFlow(flow())
    await open('/ui/flows')
    await page.getByRole('link', { name: workflowId }).click()
    await page.getByRole('heading', { name: /Flow/ }).waitFor()
    expect(await page.locator('ul.tree li').count()).toBeGreaterThanOrEqual(2)
    await shot('flow')
  })

  it('replay shows the reset as a dry-run plan, and moves the offsets only once confirmed', async () => {
    // Kafka moves the offsets of a group without members only: stop the worker first.
    worker.kill('SIGTERM')
    await worker.exited
    await waitFor(async () =>
      (await api<{ queues: { name: string; members: number }[] }>('GET', '/v1/queues')).queues.every((q) => q.members === 0),
    )
    await open('/ui/replay')
    await page.getByLabel('Group').selectOption(`${prefix}.billing`)
    expect(await page.getByLabel('Topic').inputValue()).toBe(`${prefix}.billing`)
    await page.getByRole('button', { name: 'Plan the reset…' }).click()
    const dialog = page.getByRole('dialog')
    await dialog.getByText(/Dry run: the group will \(re\)process 2 messages\./).waitFor()
    await shot('replay')
    await dialog.getByRole('button', { name: 'Move the offsets' }).click()
    await page.getByText('Offsets moved.').waitFor()
    const [billing] = (
      await api<{ groups: { group: string; topics: { topic: string; partitions: { committed: number }[] }[] }[] }>('GET', '/v1/groups')
    ).groups.filter((g) => g.group === `${prefix}.billing`)
    const source = billing!.topics.find((t) => t.topic === `${prefix}.billing`)!
    expect(source.partitions.map((p) => p.committed)).toEqual(source.partitions.map(() => 0))
  })
})
