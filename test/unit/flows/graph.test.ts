/** A canvas compiled to its stored graph: who waits for whom, what each step receives, bad canvases refused. */
import { describe, expect, it } from 'vitest'
import { isKtaskError } from '../../../src/errors.ts'
import { chain, chord, group, stepOf, type Signature } from '../../../src/flows/canvas.ts'
import { assembleInput, compileFlow, dependantsOf, MAX_FLOW_STEPS } from '../../../src/flows/graph.ts'

const step = (task: string, args?: unknown) => stepOf(task, args === undefined ? { given: false } : { given: true, value: args })

function refusal(build: () => Signature): { field?: string; message: string } {
  try {
    compileFlow(build())
  } catch (err) {
    if (isKtaskError(err, 'KTASK_VALIDATION')) return { field: err.field, message: err.message }
    throw err
  }
  throw new Error('not refused')
}

describe('compileFlow', () => {
  it("chain(a, chord([b × 10], c), d): b's wait for a and see its result; c waits for all ten and gets them in order; d gets c's", () => {
    const bs = Array.from({ length: 10 }, (_, i) => step('b', { i }))
    const g = compileFlow(chain(step('a', { n: 1 }), chord(bs, step('c')), step('d')))
    expect(g.steps).toHaveLength(13)
    expect(g.steps[0]).toMatchObject({ task: 'a', args: { n: 1 }, waitsFor: [], input: null, path: 'chain[0]' })
    for (let i = 1; i <= 10; i++) {
      expect(g.steps[i]).toMatchObject({ task: 'b', args: { i: i - 1 }, waitsFor: [0], input: { step: 0 } })
    }
    expect(g.steps[11]).toMatchObject({
      task: 'c',
      argsFromPrevious: true,
      waitsFor: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      input: { list: Array.from({ length: 10 }, (_, i) => ({ step: i + 1 })) },
      path: 'chain[1].callback',
    })
    expect(g.steps[12]).toMatchObject({ task: 'd', argsFromPrevious: true, waitsFor: [11], input: { step: 11 } })
    expect(g.last).toEqual([12])
    expect(dependantsOf(g, 0)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(dependantsOf(g, 5)).toEqual([11])
  })

  it('a group alone: every item first, every item last', () => {
    const g = compileFlow(group([step('a', 1), step('b', 2)]))
    expect(g.steps.map((s) => s.waitsFor)).toEqual([[], []])
    expect(g.last).toEqual([0, 1])
  })

  it('a step after a group in a chain is a chord: it waits for all and receives the list', () => {
    const g = compileFlow(chain(group([step('a', 1), step('b', 2)]), step('c')))
    expect(g.steps[2]).toMatchObject({ waitsFor: [0, 1], input: { list: [{ step: 0 }, { step: 1 }] } })
  })

  it("nested: a group of chains passes each chain's last result; a group in a group gives a nested list", () => {
    const g = compileFlow(chain(step('p', 0), group([chain(step('a'), step('b')), group([step('c'), step('d')])]), step('e')))
    // p=0, a=1 (after p), b=2 (after a), c=3 and d=4 (after p), e=5
    expect(g.steps[1]).toMatchObject({ task: 'a', waitsFor: [0], input: { step: 0 } })
    expect(g.steps[2]).toMatchObject({ task: 'b', waitsFor: [1], input: { step: 1 } })
    expect(g.steps[3]).toMatchObject({ task: 'c', waitsFor: [0] })
    expect(g.steps[5]).toMatchObject({
      task: 'e',
      waitsFor: [2, 3, 4],
      input: { list: [{ step: 2 }, { list: [{ step: 3 }, { step: 4 }] }] },
    })
    const results = new Map<number, unknown>([
      [2, 'B'],
      [3, 'C'],
      [4, 'D'],
    ])
    expect(assembleInput(g.steps[5]!.input!, results)).toEqual(['B', ['C', 'D']])
  })

  it('a chord whose callback is a chain: its first step receives the results, the rest follow it', () => {
    const g = compileFlow(chord([step('a', 1), step('b', 2)], chain(step('c'), step('d'))))
    expect(g.steps[2]).toMatchObject({ task: 'c', waitsFor: [0, 1], input: { list: [{ step: 0 }, { step: 1 }] } })
    expect(g.steps[3]).toMatchObject({ task: 'd', waitsFor: [2] })
    expect(g.last).toEqual([3])
  })

  it('keeps step options and a single step is a flow too', () => {
    const g = compileFlow(stepOf('a', { given: true, value: { x: 1 } }, { key: 'tenant-1' }))
    expect(g.steps).toEqual([
      {
        index: 0,
        path: 'step',
        task: 'a',
        args: { x: 1 },
        argsFromPrevious: false,
        options: { key: 'tenant-1' },
        waitsFor: [],
        input: null,
      },
    ])
  })

  it.each([
    ['an empty chain', () => chain(), 'chain'],
    ['an empty group', () => chain(step('a', 1), group([])), 'chain[1]'],
    ['a chord with no header', () => chord([], step('c')), 'chord.header'],
    ['a first step without args', () => chain(step('a'), step('b')), 'chain[0]'],
    ['a group of first steps without args', () => group([step('a', 1), step('b')]), 'group[1]'],
  ])('refuses %s, naming where it is', (_, build, field) => {
    expect(refusal(build).field).toBe(field)
  })

  it('refuses the same part used twice (the only way a canvas can loop back)', () => {
    const a = step('a', 1)
    const r = refusal(() => chain(a, step('b'), a))
    expect(r.field).toBe('chain[2]')
    expect(r.message).toMatch(/already used/)
  })

  it('refuses what is not a step, naming its place', () => {
    expect(() => chain(step('a', 1), { task: 'b' } as unknown as Signature)).toThrow(expect.objectContaining({ field: 'chain[1]' }))
    expect(() => chord([step('a', 1)], 'c' as unknown as Signature)).toThrow(expect.objectContaining({ field: 'chord.callback' }))
    expect(() => group('a' as unknown as Signature[])).toThrow(expect.objectContaining({ field: 'group' }))
  })

  it(`refuses more than ${MAX_FLOW_STEPS} steps`, () => {
    const many = Array.from({ length: MAX_FLOW_STEPS + 1 }, (_, i) => step('a', i))
    expect(refusal(() => group(many)).message).toMatch(/more than 10000 steps/)
  })
})

describe('canvas values', () => {
  it('are plain frozen data that survive JSON', () => {
    const flow = chain(step('a', { n: 1 }), chord([step('b', 1)], step('c')))
    expect(Object.isFrozen(flow)).toBe(true)
    expect(compileFlow(JSON.parse(JSON.stringify(flow)) as Signature)).toEqual(compileFlow(flow))
  })
})
