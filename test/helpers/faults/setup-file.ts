/**
 * Setup file of the fault cases: an app built in the test process (to provision and enqueue) reads its
 * endpoints from the environment like any user's, so they are set to the cluster's here; cleanups run
 * after each file as in the integration project.
 */
import { afterAll, inject } from 'vitest'
import { runFileCleanups } from '../cleanup.ts'

const infra = inject('infra')
process.env.KTASK_BROKERS = infra.brokers.join(',')
process.env.KTASK_SCHEMA_REGISTRY_URL = infra.schemaRegistryUrl
process.env.DATABASE_URL = infra.databaseUrl

afterAll(runFileCleanups)
