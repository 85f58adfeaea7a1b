/**
 * What ties a worker's children to the user's code, kept per process (not per module copy, like
 * app/internals.ts: the CLI may load an app built by another copy of ktask):
 * - the module an app was loaded from by `ktask worker <module>` (the children load the same one);
 * - the handlers of isolated tasks, by app prefix and task name: a child imports the module and finds its
 *   handler here, whichever app in that module defined it;
 * - whether this thread or process is such a child (it must not start a worker of its own).
 */
export type IsolatedHandler = (args: unknown, ctx: never) => unknown

interface Shared {
  appModules: WeakMap<object, string>
  handlers: Map<string, IsolatedHandler>
  inChild: boolean
}

const KEY = Symbol.for('ktask.isolation')
const holder = globalThis as { [KEY]?: Shared }
const shared: Shared = (holder[KEY] ??= { appModules: new WeakMap(), handlers: new Map(), inChild: false })

/** `ktask worker <module>` records where it loaded `app` from. */
export function recordAppModule(app: object, moduleUrl: string): void {
  shared.appModules.set(app, moduleUrl)
}

export function appModuleOf(app: object): string | undefined {
  return shared.appModules.get(app)
}

const handlerKey = (prefix: string, task: string): string => `${prefix}\u0000${task}`

/** Called by `app.task()` for a task with isolation. */
export function registerIsolatedHandler(prefix: string, task: string, handler: IsolatedHandler): void {
  shared.handlers.set(handlerKey(prefix, task), handler)
}

export function isolatedHandler(prefix: string, task: string): IsolatedHandler | undefined {
  return shared.handlers.get(handlerKey(prefix, task))
}

export function markIsolationChild(): void {
  shared.inChild = true
}

/** True inside a thread or child process that runs isolated handlers. */
export function insideIsolationChild(): boolean {
  return shared.inChild
}
