/**
 * A canvas compiled to the graph ktask stores: a flat list of steps, each with the steps it waits for and
 * how its input (`ctx.previous`, and `ctx.results` after a group) is assembled from their results. Pure.
 *
 * The result of a part of a flow: a step's is its handler's result; a chain's, its last item's; a group's,
 * the list of its items' results in the order given; a chord's, its callback's. What follows a part waits
 * for every step that ends it (a chain after a group is a chord, as in Celery).
 */
import { KtaskError } from '../errors.ts'
import type { Signature, StepOptions } from './canvas.ts'

/** How a step's input is built from the results of earlier steps. */
export type Input = { step: number } | { list: Input[] }

export interface GraphStep {
  /** Position in the graph (0-based, in the order the canvas lists the steps). */
  index: number
  /** Where the step is in the canvas, for messages: `chain[1].header[3]`. */
  path: string
  task: string
  args?: unknown
  /** Its args are its input (the previous step's result, or the group's results). */
  argsFromPrevious: boolean
  options: StepOptions
  /** Steps that must succeed first (distinct, ascending). Empty: a first step. */
  waitsFor: number[]
  /** What `ctx.previous` is; null for a first step. A list (after a group) is also `ctx.results`. */
  input: Input | null
}

export interface FlowGraph {
  steps: GraphStep[]
  /** The steps no other step waits for: the flow is done when they all are. */
  last: number[]
  /** The flow's result (its last part's): what an onSuccess callback receives. */
  result: Input
}

/** The most steps one flow may have: its graph is one row, written and read whole. */
export const MAX_FLOW_STEPS = 10_000

interface Part {
  /** The part's result. */
  result: Input
  /** The steps that end it. */
  ends: number[]
}

export function compileFlow(flow: Signature): FlowGraph {
  const steps: GraphStep[] = []
  const seen = new Set<Signature>()

  const visit = (sig: Signature, path: string, input: Input | null, waitsFor: number[]): Part => {
    if (seen.has(sig)) {
      // The canvas is immutable data: the only way back to an earlier part is the same object used twice.
      throw new KtaskError('KTASK_VALIDATION', `Flow: ${path} is a part already used earlier in the flow; build a new one for each place`, {
        field: path,
      })
    }
    seen.add(sig)
    switch (sig.kind) {
      case 'step': {
        if (steps.length >= MAX_FLOW_STEPS) {
          throw new KtaskError('KTASK_VALIDATION', `Flow: more than ${MAX_FLOW_STEPS} steps`, { field: path })
        }
        if (sig.argsFromPrevious && input === null) {
          throw new KtaskError(
            'KTASK_VALIDATION',
            `Flow: ${path} (task "${sig.task}") takes its args from the previous step, but nothing comes before it: give it args`,
            { field: path },
          )
        }
        const index = steps.length
        steps.push({
          index,
          path,
          task: sig.task,
          ...(sig.argsFromPrevious ? {} : { args: sig.args }),
          argsFromPrevious: sig.argsFromPrevious,
          options: sig.options,
          waitsFor: [...new Set(waitsFor)].sort((a, b) => a - b),
          input,
        })
        return { result: { step: index }, ends: [index] }
      }
      case 'chain': {
        if (sig.items.length === 0) throw new KtaskError('KTASK_VALIDATION', `Flow: ${path} is an empty chain`, { field: path })
        let part: Part | undefined
        sig.items.forEach((item, i) => {
          part = visit(item, `${path}[${i}]`, part ? part.result : input, part ? part.ends : waitsFor)
        })
        return part!
      }
      case 'group':
        return parallel(sig.items, path, input, waitsFor)
      case 'chord': {
        const header = parallel(sig.header, `${path}.header`, input, waitsFor)
        return visit(sig.callback, `${path}.callback`, header.result, header.ends)
      }
    }
  }

  const parallel = (items: readonly Signature[], path: string, input: Input | null, waitsFor: number[]): Part => {
    if (items.length === 0) throw new KtaskError('KTASK_VALIDATION', `Flow: ${path} is an empty group`, { field: path })
    const parts = items.map((item, i) => visit(item, `${path}[${i}]`, input, waitsFor))
    return { result: { list: parts.map((p) => p.result) }, ends: parts.flatMap((p) => p.ends) }
  }

  const root = rootPath(flow)
  const part = visit(flow, root, null, [])
  return { steps, last: [...new Set(part.ends)].sort((a, b) => a - b), result: part.result }
}

function rootPath(flow: Signature): string {
  return flow.kind === 'step' ? 'step' : flow.kind
}

/** The steps that wait for `index`, by index. */
export function dependantsOf(graph: FlowGraph, index: number): number[] {
  return graph.steps.filter((s) => s.waitsFor.includes(index)).map((s) => s.index)
}

/** A step's input from the results of the steps it waits for (every one of them present). */
export function assembleInput(input: Input, results: ReadonlyMap<number, unknown>): unknown {
  if ('step' in input) {
    if (!results.has(input.step)) throw new KtaskError('KTASK_STATE', `Flow: the result of step ${input.step} is missing`)
    return results.get(input.step)
  }
  return input.list.map((i) => assembleInput(i, results))
}
