import { afterAll } from 'vitest'
import { runFileCleanups } from './cleanup.ts'

afterAll(runFileCleanups)
