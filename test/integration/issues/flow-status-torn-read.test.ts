/**
 * Regression: a flow's status could be torn — the flow RUNNING while every step showed SUCCEEDED.
 *
 * getFlow read the flow's row and its steps in two statements; a step's transaction committing between them
 * (its steps and the flow's state change together) gave a mix of before and after. A flow event stream then
 * sent the same steps twice (once under RUNNING, once under SUCCEEDED): found by the http-flows test under
 * CI load. Now the status is read in one statement, one snapshot.
 */
import { describe, expect, it } from 'vitest'
import { compileFlow } from '../../../src/flows/graph.ts'
import { stepOf } from '../../../src/flows/canvas.ts'
import { getFlow } from '../../../src/store/flow-status.ts'
import { insertFlow, succeedStep } from '../../../src/store/flows.ts'
import type { Queryable } from '../../../src/store/queryable.ts'
import { testPool, uniqueName } from '../../helpers/infra.ts'

describe('flow status', () => {
  it('is one snapshot: a step finishing the flow while its status is read shows both before or both after', async () => {
    const pool = testPool()
    const workflowId = uniqueName('torn')
    const graph = compileFlow(stepOf('only', { given: true, value: {} }))
    await insertFlow(pool, { workflowId, scope: 'torn', onFailure: 'failFast', graph, taskIds: [`${workflowId}:0`] })
    // After the status read's first statement, the step commits (finishing the flow); then the read goes on.
    let interleaved = false
    const reader: Queryable = {
      query: (async (text: string, values?: unknown[]) => {
        const result = await pool.query(text, values)
        if (!interleaved) {
          interleaved = true
          const client = await pool.connect()
          try {
            await client.query('BEGIN')
            await succeedStep(client, workflowId, 0, 'done')
            await client.query('COMMIT')
          } finally {
            client.release()
          }
        }
        return result
      }) as unknown as Queryable['query'],
    }
    const status = await getFlow(reader, 'torn', workflowId)
    expect(interleaved).toBe(true)
    const stepsDone = status!.steps.every((s) => s.state === 'SUCCEEDED')
    expect({ flow: status!.state, stepsDone }).toEqual(stepsDone ? { flow: 'SUCCEEDED', stepsDone } : { flow: 'RUNNING', stepsDone })
  })
})
