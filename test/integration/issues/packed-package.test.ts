/**
 * Known defects of the published package, found by installing the packed tarball into a fresh project
 * the way a new user would:
 * - `require('ktask')` failed (ERR_PACKAGE_PATH_NOT_EXPORTED: no `require`/`default` export condition);
 * - the .d.ts files imported `./app/app.ts` paths (only TypeScript's own resolver tolerates those);
 * - `ctx.tx` was `any` in a user's project: the public types use pg's, which it did not bring along;
 * - `engines` said >=22.12, but `ktask worker app.ts` needs a Node that strips types (22.18+);
 * - in the project `npm init -y` writes ("type": "commonjs"), the README's app.ts failed with a stack
 *   trace ending in "Cannot use import statement outside a module" — nothing said what to do.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uniqueName } from '../../helpers/infra.ts'
import { devDependencyVersion, packedProject, type PackedProject } from '../../helpers/packed-project.ts'
import { spawnNode } from '../../helpers/processes.ts'

const root = fileURLToPath(new URL('../../../', import.meta.url))
/** Node's first 22.x release that runs .ts files without a flag. */
const TYPE_STRIPPING_NODE = [22, 18, 0]

/** The app.ts of the README's "Five minutes", as a user pastes it. */
function readmeApp(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const code = /## Five minutes[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1]
  if (!code?.includes('export default app')) throw new Error('README: no app.ts block under "Five minutes"')
  return code
}

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(dir, f))
}

let project: PackedProject

beforeAll(() => {
  // What `npm init -y` writes today: "type": "commonjs".
  project = packedProject({ type: 'commonjs' }, [`@types/node@${devDependencyVersion('@types/node')}`])
}, 240_000)

afterAll(() => project?.remove())

describe('the packed package, installed into a fresh project', () => {
  it('its .d.ts files import .js paths, never .ts', () => {
    const offenders = filesUnder(join(project.unpacked, 'dist'), '.d.ts').flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/(?:from\s+|import\()['"](\.\.?\/[^'"]+\.ts)['"]/g)].map(
        (m) => `${relative(project.unpacked, file)}: ${m[1]}`,
      ),
    )
    expect(offenders).toEqual([])
  })

  it("require('ktask') returns createApp", () => {
    const out = execFileSync(
      process.execPath,
      ['-e', "const k = require('ktask'); console.log(typeof k.createApp, typeof k.UnrecoverableError)"],
      { cwd: project.dir, encoding: 'utf8' },
    )
    expect(out.trim()).toBe('function function')
  })

  it('engines.node asks for a Node that runs `ktask worker app.ts` (type stripping without a flag)', () => {
    const { engines } = JSON.parse(readFileSync(join(project.unpacked, 'package.json'), 'utf8')) as { engines: { node: string } }
    const min = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(engines.node)
    expect(min, engines.node).not.toBeNull()
    const [major, minor, patch] = [Number(min![1]), Number(min![2]), Number(min![3] ?? 0)]
    const cmp = major - TYPE_STRIPPING_NODE[0]! || minor - TYPE_STRIPPING_NODE[1]! || patch - TYPE_STRIPPING_NODE[2]!
    expect(cmp).toBeGreaterThanOrEqual(0)
  })

  it("the README's app.ts type-checks against the published types, ctx.tx included", () => {
    writeFileSync(
      join(project.dir, 'app.ts'),
      [
        'declare const mailer: { send(message: object): Promise<void> }',
        readmeApp(),
        // ctx.tx is pg's client: a wrong call is an error (were it `any`, this expect-error would be unused).
        "app.task({ name: 'typed', queue: 'q', schema: 'x.avsc', handler: async (_args, ctx) => {",
        '  // @ts-expect-error query() takes SQL text or a config object',
        '  await ctx.tx.query(42)',
        '} })',
      ].join('\n'),
    )
    writeFileSync(
      join(project.dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
        files: ['app.ts'],
      }),
    )
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
    let output = ''
    try {
      execFileSync(process.execPath, [tsc, '-p', project.dir], { cwd: project.dir, encoding: 'utf8' })
    } catch (err) {
      output = String((err as { stdout?: string }).stdout)
    }
    // Other packages' own typings are theirs to fix; ktask's and the user's file must be clean.
    expect(output.split('\n').filter((l) => l.startsWith('app.ts') || l.includes('node_modules/ktask/'))).toEqual([])
  })
})

describe("a new user's app module", () => {
  const workerEnv = () => ({ KTASK_PREFIX: uniqueName('new-user'), LOG_LEVEL: 'info' })
  const ktask = () => join(project.dir, 'node_modules', 'ktask', 'dist', 'cli', 'main.js')

  it('app.ts in a "type": "commonjs" project: one line saying what to do, no stack trace', async () => {
    writeFileSync(join(project.dir, 'app.ts'), readmeApp())
    const worker = spawnNode([ktask(), 'worker', 'app.ts'], { cwd: project.dir, sources: false, env: workerEnv() })
    expect((await worker.exited).code).toBe(1)
    const out = worker.lines.join('\n')
    expect(out).toMatch(/app\.ts .*"type": "module"/)
    expect(out).toMatch(/\.mts/)
    expect(out).not.toMatch(/^\s+at /m)
  })

  it('app.mts runs in that project as it is', async () => {
    writeFileSync(join(project.dir, 'app.mts'), readmeApp())
    const worker = spawnNode([ktask(), 'worker', 'app.mts'], { cwd: project.dir, sources: false, env: workerEnv() })
    await worker.waitForLine(/worker running/)
    worker.kill('SIGTERM')
    expect((await worker.exited).code).toBe(0)
  })

  it('a CommonJS app (require, module.exports) runs too', async () => {
    writeFileSync(
      join(project.dir, 'app.js'),
      [
        "const { createApp } = require('ktask')",
        'const app = createApp({ queues: { emails: { partitions: 1 } } })',
        "app.task({ name: 'email.send', queue: 'emails', schema: { type: 'record', name: 'SendEmail', fields: [{ name: 'to', type: 'string' }] }, handler: async () => {} })",
        'module.exports = app',
      ].join('\n'),
    )
    const worker = spawnNode([ktask(), 'worker', 'app.js'], { cwd: project.dir, sources: false, env: workerEnv() })
    await worker.waitForLine(/worker running/)
    worker.kill('SIGTERM')
    expect((await worker.exited).code).toBe(0)
  })
})
