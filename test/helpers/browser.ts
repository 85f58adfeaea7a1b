/**
 * Headless Chromium for the dashboard's browser tests: Debian's `chromium` package, installed here when
 * it is missing and we may (root, apt-get present), driven by playwright-core (no browser download).
 * Every page records console errors and uncaught exceptions, so a test can require a clean log.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { registerCleanup } from './cleanup.ts'

export const CHROMIUM = process.env.KTASK_TEST_CHROMIUM ?? '/usr/bin/chromium'

/** Installs Debian's chromium when it is missing (as root); throws saying how otherwise. */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    execFileSync('apt-get', ['update'], { stdio: 'inherit', env })
    execFileSync('apt-get', ['install', '-y', 'chromium'], { stdio: 'inherit', env })
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `No Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install -y chromium) or set KTASK_TEST_CHROMIUM`,
    )
  }
  return CHROMIUM
}

export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: ensureChromium(),
    // As root (CI containers) Chromium refuses to start with its sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  })
  registerCleanup(() => browser.close())
  return browser
}

export interface LoggedPage {
  page: Page
  /** Console errors and uncaught exceptions, with the URL they happened on. */
  errors: string[]
}

export async function newLoggedPage(browser: Browser, baseURL: string): Promise<LoggedPage> {
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 860 } })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${page.url()}: console: ${message.text()}`)
  })
  page.on('pageerror', (err) => errors.push(`${page.url()}: exception: ${err.message}`))
  return { page, errors }
}
