/**
 * Example app: render invoices in the background.
 *
 * Each `invoice.render` task writes one invoice row through `ctx.tx` — in the same transaction as the
 * ledger row, so the invoice exists exactly once however often Kafka delivers the task. About 3% of
 * runs fail once with a transient error (retried through the backoff topics); orders with amount 0
 * are rejected for good (UnrecoverableError → dead-letter queue).
 *
 *   npx ktask worker examples/invoices.ts        # a worker process (start as many as you like)
 *   npx ktask serve examples/invoices.ts         # the HTTP API
 */
import { createApp, UnrecoverableError, type App, type Task } from 'ktask'

export interface InvoiceArgs {
  orderId: string
  customer: string
  /** In cents. */
  amount: number
  lines: number
}

export function buildInvoiceApp(prefix: string): { app: App; renderInvoice: Task<InvoiceArgs> } {
  const app = createApp({
    prefix,
    queues: { invoices: { partitions: 6 } },
    worker: { concurrency: 8, statsIntervalMs: 5000 },
  })
  const renderInvoice = app.task<InvoiceArgs, { invoiceNo: string }>({
    name: 'invoice.render',
    queue: 'invoices',
    track: true,
    schema: {
      type: 'record',
      name: 'InvoiceArgs',
      namespace: 'example',
      fields: [
        { name: 'orderId', type: 'string' },
        { name: 'customer', type: 'string' },
        { name: 'amount', type: 'int' },
        { name: 'lines', type: 'int', default: 1 },
      ],
    },
    retry: { attempts: 4, backoff: { type: 'exponential', delayMs: 500, maxDelayMs: 5000 } },
    timeoutMs: 10_000,
    handler: async (args, ctx) => {
      if (args.amount <= 0) throw new UnrecoverableError(`order ${args.orderId} has no amount to invoice`)
      // A flaky dependency: the first attempt sometimes fails, a retry succeeds.
      if (ctx.attempt === 1 && Math.random() < 0.03) throw new Error('PDF renderer timed out (transient)')
      for (let line = 1; line <= args.lines; line++) ctx.progress(line / args.lines, `line ${line} of ${args.lines}`)
      const invoiceNo = `INV-${args.orderId}`
      await ctx.tx.query(
        `INSERT INTO example_invoices (invoice_no, order_id, customer, amount, enqueued_at)
       VALUES ($1, $2, $3, $4, to_timestamp($5::bigint / 1000.0))`,
        [invoiceNo, args.orderId, args.customer, args.amount, ctx.headers['ktask-enqueued-at']],
      )
      return { invoiceNo }
    },
  })
  return { app, renderInvoice }
}

/** The table the handler writes (created by examples/main.ts). */
export const invoicesTableSql = `CREATE TABLE IF NOT EXISTS example_invoices (
  invoice_no text PRIMARY KEY, order_id text NOT NULL, customer text NOT NULL, amount int NOT NULL,
  enqueued_at timestamptz NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp())`

export default buildInvoiceApp(process.env.KTASK_PREFIX ?? 'example').app
