/** Anything statements can run on: the pool, a checked-out client, or a transaction's scoped client. */
import type pg from 'pg'

export type Queryable = Pick<pg.ClientBase, 'query'>
