/** ktask public API: everything a user imports comes from here, and nothing else is public. */
export { KtaskError, UnrecoverableError, codes, isKtaskError } from './errors.ts'
export type { KtaskErrorCode, KtaskErrorDetails } from './errors.ts'
