/**
 * Loads the user's module and returns its default export, which must be a ktask App: an ES module
 * (`export default app`; .ts, .mts, .js, .mjs) or a CommonJS one (`module.exports = app`, or the
 * `exports.default` TypeScript compiles `export default` to; .cts, .cjs, .js). The ways a new user's
 * first module fails to load get a message that says what to do instead of a stack trace.
 */
import { existsSync } from 'node:fs'
import { basename, relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { App } from '../app/app.ts'
import { KtaskError } from '../errors.ts'
import { recordAppModule } from '../isolation/registry.ts'

function looksLikeApp(value: unknown): value is App {
  // Duck-typed: the module may import a different copy of ktask (dist vs. source) than the CLI.
  const v = value as Partial<App> | null
  return (
    typeof v === 'object' && v !== null && typeof v.worker === 'function' && typeof v.task === 'function' && typeof v.close === 'function'
  )
}

/** The module's app: its default export, or the `default` of a CommonJS module's exports. */
function appOf(mod: { default?: unknown }): unknown {
  const exported = mod.default
  if (looksLikeApp(exported)) return exported
  const nested = (exported as { default?: unknown } | null | undefined)?.default
  return looksLikeApp(nested) ? nested : exported
}

/** `import`/`export` in a file Node loads as CommonJS (a .ts or .js file under "type": "commonjs"). */
function esmSyntaxInCommonJs(err: unknown): err is SyntaxError {
  return err instanceof SyntaxError && /Cannot use import statement outside a module|Unexpected token 'export'/.test(err.message)
}

function invalidModule(message: string, cause?: unknown): KtaskError {
  return new KtaskError('KTASK_INVALID_CONFIG', message, { field: 'module', cause })
}

export async function loadApp(modulePath: string): Promise<App> {
  const file = resolve(modulePath)
  if (!existsSync(file)) throw new KtaskError('KTASK_NOT_FOUND', `Module not found: ${file}`, { field: 'module' })
  if (/\.[cm]?ts$/.test(file) && !process.features.typescript) {
    throw invalidModule(
      `${modulePath} is TypeScript, which Node ${process.version} does not run: use Node 22.18 or newer, or compile it to JavaScript`,
    )
  }
  let mod: { default?: unknown }
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown }
  } catch (err) {
    if (!esmSyntaxInCommonJs(err)) throw err
    // The file at fault may be one the module imports: the stack's first line names it.
    const culprit = /^(\/[^\n]*?):\d+\n/.exec(err.stack ?? '')?.[1] ?? file
    const name = relative(process.cwd(), culprit) || basename(culprit)
    throw invalidModule(
      `${name} uses import/export, but Node loads it as CommonJS: its package.json says "type": "commonjs" ` +
        `(what npm init writes). Add "type": "module" to that package.json, or rename the file to ${name.replace(/\.[cm]?[jt]s$/, '')}.mts ` +
        '(.mjs for JavaScript)',
      err,
    )
  }
  const app = appOf(mod)
  if (!looksLikeApp(app)) {
    throw invalidModule(
      `${modulePath} must export a ktask app as its default export (export default createApp(...), or module.exports = app)`,
    )
  }
  // Isolated handlers' threads and processes load the same module.
  recordAppModule(app, pathToFileURL(file).href)
  return app
}
