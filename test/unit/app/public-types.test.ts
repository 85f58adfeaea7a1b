/**
 * The published types show only what users call. The declarations are emitted here as `npm run build`
 * emits them (tsconfig.build.json), in memory, and read like a user's editor would.
 */
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const declarations = new Map<string, string>()

beforeAll(() => {
  const configFile = ts.getParsedCommandLineOfConfigFile(
    `${root}tsconfig.build.json`,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  )
  if (!configFile) throw new Error('tsconfig.build.json cannot be read')
  const options = { ...configFile.options, emitDeclarationOnly: true, declarationMap: false, sourceMap: false }
  const program = ts.createProgram({ rootNames: [`${root}src/index.ts`], options })
  const result = program.emit(undefined, (file, text) => declarations.set(file.slice(`${root}dist/`.length), text))
  expect(result.diagnostics).toEqual([])
}, 60_000)

/** The member names of a declared class. */
function members(dts: string, className: string): string[] {
  const file = ts.createSourceFile('x.d.ts', dts, ts.ScriptTarget.Latest)
  const cls = file.statements.find((s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === className)
  if (!cls) throw new Error(`no class ${className}`)
  return cls.members.flatMap((m) => (m.name && ts.isIdentifier(m.name) ? [m.name.text] : []))
}

describe('published types', () => {
  it('App has only what users call: no config, runtime, routes or prepareTask', () => {
    const app = declarations.get('app/app.d.ts')!
    expect(members(app, 'App').sort()).toEqual([
      'cancel',
      'close',
      'consume',
      'consumerGroups',
      'enqueueFlow',
      'event',
      'flowStatus',
      'getTask',
      'listSchedules',
      'logger',
      'metrics',
      'migrate',
      'pauseSchedule',
      'provision',
      'queueNames',
      'resumeSchedule',
      'schedule',
      'status',
      'task',
      'taskNames',
      'triggerSchedule',
      'use',
      'worker',
    ])
    expect(app).not.toMatch(/\b(config|runtime|routes|prepareTask)\b\s*[:(]/)
    expect(app).not.toMatch(/from '\.\.\/(runtime|routing)\/|config\/resolve/)
  })

  it('Worker is an interface of what users call; its declarations name no internal module', () => {
    const worker = declarations.get('worker/worker.d.ts')!
    const file = ts.createSourceFile('w.d.ts', worker, ts.ScriptTarget.Latest)
    const iface = file.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'Worker')!
    expect(iface.members.flatMap((m) => (m.name && ts.isIdentifier(m.name) ? [m.name.text] : [])).sort()).toEqual([
      'on',
      'options',
      'start',
      'state',
      'stats',
      'stop',
    ])
    expect(declarations.get('index.d.ts')).toMatch(/export type \{ Worker,/)
    expect(declarations.get('index.d.ts')).not.toMatch(/AppWorker/)
    // The implementation (and what it takes from the app) is @internal: stripped from the published types.
    expect(worker).not.toMatch(/AppWorker|WorkerHost|AppRuntime|\bRoute\b/)
  })

  it('the public options name no kafkajs (or @platformatic/kafka) type', () => {
    // The client's name is a value of `kafka.client` ('kafkajs'); what must not appear is an import of it.
    const imports = /(?:from\s*|import\(\s*)['"](?:kafkajs|@platformatic\/kafka)['"]/
    for (const file of ['index.d.ts', 'config/options.d.ts', 'config/definitions.d.ts']) {
      expect({ file, kafkajs: imports.test(declarations.get(file) ?? '') }).toEqual({ file, kafkajs: false })
    }
  })
})
