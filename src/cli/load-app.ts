/** Loads the user's module and returns its default export, which must be a ktask App. */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { App } from '../app/app.ts'
import { KtaskError } from '../errors.ts'

function looksLikeApp(value: unknown): value is App {
  // Duck-typed: the module may import a different copy of ktask (dist vs. source) than the CLI.
  const v = value as Partial<App> | null
  return typeof v === 'object' && v !== null && typeof v.worker === 'function' && typeof v.task === 'function' && typeof v.close === 'function'
}

export async function loadApp(modulePath: string): Promise<App> {
  const file = resolve(modulePath)
  if (!existsSync(file)) throw new KtaskError('KTASK_NOT_FOUND', `Module not found: ${file}`, { field: 'module' })
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown }
  if (!looksLikeApp(mod.default)) {
    throw new KtaskError('KTASK_INVALID_CONFIG', `${modulePath} must export a ktask app as its default export (export default createApp(...))`, { field: 'module' })
  }
  return mod.default
}
