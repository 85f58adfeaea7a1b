/** Kept where app code imports it from; the helper lives in store/, below every user of it. */
export { inTransaction } from '../store/in-transaction.ts'
