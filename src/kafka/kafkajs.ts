/**
 * ktask's own copy of kafkajs: the same installed files, loaded a second time into modules of its own,
 * so its fixes (request-queue-fix.ts, send-messages-fix.ts) change ktask's clients only — never the kafkajs a
 * user's code requires, whether it loads before or after ktask.
 *
 * Node keeps one require cache, keyed by file name. The copy is loaded with kafkajs's entries of that
 * cache set aside (and put back afterwards); each of its modules then gets a `require` of its own, because
 * kafkajs also requires files lazily — every protocol request loads its versioned encoder and decoder on
 * first use — and those must come from the copy too, or its errors would be another copy's classes and
 * fail its `instanceof` checks (a retriable broker error would not be retried).
 */
import Module, { createRequire } from 'node:module'
import { dirname, join, sep } from 'node:path'
import type * as KafkajsModule from 'kafkajs'
import { applyRequestQueueFix, type RequestQueueClass } from './request-queue-fix.ts'
import { withCompleteSends, type SendMessagesFactory } from './send-messages-fix.ts'
import { recordDecoder } from './decode-fix.ts'
import { crc32c, groupMessagesPerPartition, patchEncoder, recordEncoder, type EncoderClass } from './encode-fix.ts'

export type Kafkajs = typeof KafkajsModule

interface CjsModule {
  filename: string
  exports: unknown
  require(id: string): unknown
}

const require = createRequire(import.meta.url)
const cache = require.cache as Record<string, CjsModule | undefined>
/** Node's own `module.require`, called with a module of the copy as `this`. */
const sharedRequire = (Module.prototype as unknown as { require: (this: CjsModule, id: string) => unknown }).require

interface PrivateCopy {
  root: string
  modules: Map<string, CjsModule>
  kafkajs: Kafkajs
}

let copy: PrivateCopy | undefined

/** The kafkajs versions whose files encode-fix.ts and decode-fix.ts were written against. */
const ENCODE_FIX_VERSION = /^2\.2\./

/** Runs `load` with the copy's modules in the require cache in place of every other kafkajs module. */
function inPrivateCache<T>(root: string, modules: Map<string, CjsModule>, load: () => T): T {
  const setAside = new Map<string, CjsModule>()
  for (const key of Object.keys(cache)) {
    if (!key.startsWith(root)) continue
    setAside.set(key, cache[key]!)
    delete cache[key]
  }
  for (const [key, m] of modules) cache[key] = m
  try {
    return load()
  } finally {
    for (const key of Object.keys(cache)) {
      if (!key.startsWith(root)) continue
      if (!modules.has(key)) adopt(root, modules, cache[key]!)
      delete cache[key]
    }
    for (const [key, m] of setAside) cache[key] = m
  }
}

/** A module the copy loaded: its later (lazy) requires resolve within the copy, each once. */
function adopt(root: string, modules: Map<string, CjsModule>, m: CjsModule): void {
  modules.set(m.filename, m)
  const loaded = new Map<string, unknown>()
  m.require = (id: string): unknown => {
    if (!loaded.has(id))
      loaded.set(
        id,
        inPrivateCache(root, modules, () => sharedRequire.call(m, id)),
      )
    return loaded.get(id)
  }
}

function privateCopy(): PrivateCopy {
  if (copy) return copy
  const root = dirname(require.resolve('kafkajs/package.json')) + sep
  const modules = new Map<string, CjsModule>()
  const { kafkajs, RequestQueue, version } = inPrivateCache(root, modules, () => {
    const version = (require(join(root, 'package.json')) as { version: string }).version
    // Before anything requires them: modules take these when they load (see encode-fix.ts).
    if (ENCODE_FIX_VERSION.test(version)) {
      const replace = (path: string, exports: (loaded: unknown) => unknown): void => {
        const file = join(root, 'src', ...path.split('/'))
        const loaded: unknown = require(file)
        cache[file]!.exports = exports(loaded)
      }
      replace('producer/groupMessagesPerPartition.js', () => groupMessagesPerPartition)
      const Encoder = require(join(root, 'src', 'protocol', 'encoder.js')) as EncoderClass
      patchEncoder(Encoder)
      replace('protocol/recordBatch/crc32C/crc32C.js', () => crc32c)
      const Long = require(join(root, 'src', 'utils', 'long.js')) as Parameters<typeof recordDecoder>[0]
      replace('protocol/recordBatch/record/v0/decoder.js', () => recordDecoder(Long))
      replace('protocol/recordBatch/record/v0/index.js', () => recordEncoder(Encoder))
    }
    // Before anything requires it: the producer takes `sendMessages` when its module loads.
    const sendMessagesFile = join(root, 'src', 'producer', 'sendMessages.js')
    const original = require(sendMessagesFile) as SendMessagesFactory
    cache[sendMessagesFile]!.exports = withCompleteSends(original, version)
    return {
      kafkajs: require('kafkajs') as Kafkajs,
      RequestQueue: require(join(root, 'src', 'network', 'requestQueue', 'index.js')) as RequestQueueClass,
      version,
    }
  })
  applyRequestQueueFix(RequestQueue, version)
  copy = { root, modules, kafkajs }
  return copy
}

/** ktask's copy of kafkajs, with the request-queue and send fixes applied (loaded on first use). */
export function kafkajs(): Kafkajs {
  return privateCopy().kafkajs
}

/** A file of ktask's copy by its path inside the kafkajs package, e.g. `src/network/requestQueue/index.js`. */
export function kafkajsFile(path: string): unknown {
  const { root, modules } = privateCopy()
  return inPrivateCache(root, modules, (): unknown => require(join(root, path)))
}
