/**
 * The dashboard (`ktask serve` at /ui) with 10,000 tracked tasks and 1,000 DLQ entries: how long each page
 * takes to load in headless Chromium (navigation start to the load event: the HTML, its stylesheet and
 * script), p50 and p95 over `samples` loads per page and run. Measured, not asserted (the issue asks
 * for under 300 ms).
 *
 * Seeding: 1,000 tasks of a task that always refuses (UnrecoverableError) go through a real worker into
 * the DLQ (their tracked rows DEAD); 9,000 more tracked rows are inserted in Postgres in a mix of
 * states. The service runs in this process, over a token, with the page logged in once. Without
 * Chromium (`/usr/bin/chromium`, or BENCH_CHROMIUM) the figures are the HTML responses alone (fetch).
 */
import { existsSync } from 'node:fs'
import pg from 'pg'
import { chromium, type Page } from 'playwright-core'
import { v7 as uuidv7 } from 'uuid'
import { createApp, createHttpService, UnrecoverableError } from '../../src/index.ts'
import { databaseUrl, payload, payloadSchema, until, uniqueName } from '../lib/env.ts'
import { figure, percentile, type Figure } from '../lib/stats.ts'

export interface DashboardLoad {
  tracked: number
  dead: number
  samples: number
}

const TOKEN = 'bench-dashboard'
const CHROMIUM = process.env.BENCH_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Inserts tracked rows in a mix of states, one every 8 s back from now: UUIDv7 ids of their enqueue
 * time, so they land in their day's partition of ktask.tasks as real ones do.
 */
async function seedTasks(db: pg.Pool, n: number): Promise<string[]> {
  const now = Date.now()
  const ids = Array.from({ length: n }, (_, i) => uuidv7({ msecs: now - (i + 1) * 8000 }))
  await db.query(
    `INSERT INTO ktask.tasks (task_id, name, queue, state, attempts, result, error, enqueued_at, started_at, finished_at, bucket)
     SELECT id, 'bench.ok', 'bench', s.state, 1 + g % 3,
       CASE WHEN s.state = 'SUCCEEDED' THEN '{"ok": true}'::jsonb END,
       CASE WHEN s.state = 'FAILED' THEN '{"class": "Error", "message": "seeded", "stage": "handler", "attempt": 3}'::jsonb END,
       now() - g * interval '8 seconds', now() - g * interval '8 seconds' + interval '1 second',
       CASE WHEN s.state IN ('SUCCEEDED', 'FAILED') THEN now() - g * interval '8 seconds' + interval '2 seconds' END,
       ktask.id_bucket(id)
     FROM unnest($1::text[]) WITH ORDINALITY AS u(id, g)
     CROSS JOIN LATERAL (SELECT (ARRAY['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'PENDING', 'STARTED', 'RETRYING', 'FAILED'])[1 + g % 8] AS state) s`,
    [ids],
  )
  return ids
}

interface Measured {
  p50: number
  p95: number
}

export async function benchDashboard(runs: number, load: DashboardLoad): Promise<Record<string, Figure>> {
  const prefix = uniqueName('bench-dash')
  const app = createApp({ prefix, logLevel: 'error', queues: { bench: { partitions: 3 } } })
  const doomed = app.task<{ id: string; body: string }>({
    name: 'bench.doomed',
    queue: 'bench',
    schema: payloadSchema,
    track: true,
    handler: () => {
      throw new UnrecoverableError('seeded for the dashboard bench')
    },
  })
  app.task({ name: 'bench.ok', queue: 'bench', schema: payloadSchema, track: true, handler: () => {} })
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  const http = createHttpService(app, { port: 0, host: '127.0.0.1', token: TOKEN })
  let seeded: string[] = []
  const browser = existsSync(CHROMIUM)
    ? await chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] })
    : undefined
  try {
    const worker = app.worker({ queues: ['bench'] })
    await worker.start()
    for (let i = 0; i < load.dead; i += 500) {
      await doomed.enqueueMany(Array.from({ length: Math.min(500, load.dead - i) }, (_, j) => ({ args: payload(i + j) })))
    }
    const address = await http.listen()
    const auth = { authorization: `Bearer ${TOKEN}` }
    await until(
      async () =>
        ((await (await fetch(`${address}/v1/dlq/bench?limit=1`, { headers: auth })).json()) as { total: number }).total >= load.dead,
      300_000,
      `${load.dead} DLQ entries`,
      500,
    )
    await worker.stop()
    seeded = await seedTasks(db, load.tracked - load.dead)

    const page1 = (await (await fetch(`${address}/v1/dlq/bench?limit=100`, { headers: auth })).json()) as {
      entries: { partition: number; offset: number; taskId: string }[]
      nextCursor: string
    }
    const entry = page1.entries[0]!
    const tasks = (await (await fetch(`${address}/v1/tasks?state=SUCCEEDED&limit=1`, { headers: auth })).json()) as {
      tasks: { taskId: string }[]
    }
    const pages: Record<string, string> = {
      overview: '/ui',
      tasks: '/ui/tasks',
      'tasks-filtered': '/ui/tasks?state=DEAD&task=bench.doomed',
      task: `/ui/tasks/${encodeURIComponent(tasks.tasks[0]!.taskId)}`,
      dlq: '/ui/dlq/bench',
      'dlq-page-2': `/ui/dlq/bench?cursor=${encodeURIComponent(page1.nextCursor)}`,
      'dlq-filtered': '/ui/dlq/bench?errorClass=UnrecoverableError&task=bench.doomed',
      'dlq-message': `/ui/dlq/bench/${entry.partition}/${entry.offset}`,
      flows: '/ui/flows',
      schedules: '/ui/schedules',
      replay: '/ui/replay',
    }
    let load1: (path: string) => Promise<number>
    let page: Page | undefined
    if (browser) {
      const context = await browser.newContext({ baseURL: address })
      page = await context.newPage()
      await page.goto('/ui/login')
      await page.getByLabel('Token').fill(TOKEN)
      await page.getByLabel('Token').press('Enter')
      await page.waitForURL('**/ui')
      load1 = async (path) => {
        await page!.goto(path, { waitUntil: 'load' })
        // In the page (a string: the bench is type-checked without the DOM library).
        return page!.evaluate<number>(
          `(() => { const [nav] = performance.getEntriesByType('navigation'); return nav.loadEventEnd - nav.startTime })()`,
        )
      }
    } else {
      load1 = async (path) => {
        const t0 = performance.now()
        await (await fetch(`${address}${path}`, { headers: auth })).text()
        return performance.now() - t0
      }
    }
    const byPage = new Map<string, Measured[]>()
    for (let run = 0; run < runs; run++) {
      for (const [name, path] of Object.entries(pages)) {
        await load1(path) // warm: the first read of the DLQ scans the topic once
        const samples: number[] = []
        for (let i = 0; i < load.samples; i++) samples.push(await load1(path))
        byPage.set(name, [...(byPage.get(name) ?? []), { p50: percentile(samples, 50), p95: percentile(samples, 95) }])
      }
    }
    const out: Record<string, Figure> = {}
    const unit = browser ? 'ms' : 'ms (html)'
    for (const [name, measured] of byPage) {
      out[`dashboard.${name}-p50`] = figure(
        measured.map((m) => m.p50),
        unit,
        1,
      )
      out[`dashboard.${name}-p95`] = figure(
        measured.map((m) => m.p95),
        unit,
        1,
      )
    }
    return out
  } finally {
    await browser?.close()
    await http.close()
    await app.close()
    if (seeded.length > 0) await db.query('DELETE FROM ktask.tasks WHERE task_id = ANY($1::text[])', [seeded]).catch(() => {})
    await db.end()
  }
}
