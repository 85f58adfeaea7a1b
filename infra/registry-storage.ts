/**
 * Where the local Apicurio Registry keeps its schemas: a dedicated database (`ktask_registry` unless
 * KTASK_REGISTRY_DATABASE says otherwise) on the Postgres server of DATABASE_URL.
 *
 * Why Postgres and not the in-memory default: a registry restart must not lose schemas, or every message
 * produced before it becomes undecodable (unknown schema id → dead-lettered). Why not Apicurio's
 * `kafkasql` storage: measured here, it answers HTTP before it has replayed its journal, so for a few
 * seconds after each restart (13 s with 2,000 schemas) it says 404 for ids it does know — exactly the
 * "unknown schema" answer ktask must trust — and it starts slower. The SQL storage is ready when it answers.
 */
import { userInfo } from 'node:os'
import pg from 'pg'

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test'

export interface RegistryStorage {
  /** The registry's database name. */
  database: string
  /** `host:port`, for messages. */
  server: string
  /** JDBC URL of the registry's database (what Apicurio connects to). */
  jdbcUrl: string
  /** The same database as a postgres:// URL. */
  databaseUrl: string
  username: string
  password: string
  /** A database on the same server that already exists, to create or drop the registry's from. */
  adminUrl: string
}

export function registryStorage(env: NodeJS.ProcessEnv = process.env): RegistryStorage {
  const url = new URL(env.DATABASE_URL || DEFAULT_DATABASE_URL)
  const database = env.KTASK_REGISTRY_DATABASE || 'ktask_registry'
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) {
    throw new Error(`KTASK_REGISTRY_DATABASE must be a plain lower-case identifier, got "${database}"`)
  }
  const server = `${url.hostname}:${url.port || '5432'}`
  const adminUrl = url.toString()
  url.pathname = `/${database}`
  return {
    database,
    server,
    // Query parameters (sslmode, …) mean the same to pgjdbc as to node-postgres.
    jdbcUrl: `jdbc:postgresql://${server}/${database}${url.search}`,
    // node-postgres' own defaults when the URL leaves them out.
    username: decodeURIComponent(url.username) || env.PGUSER || userInfo().username,
    password: decodeURIComponent(url.password) || env.PGPASSWORD || '',
    databaseUrl: url.toString(),
    adminUrl,
  }
}

async function withAdmin<T>(storage: RegistryStorage, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: storage.adminUrl, connectionTimeoutMillis: 5000 })
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw new Error(
      `infra: the registry keeps its schemas in Postgres (database ${storage.database} on ` +
        `${storage.server}), which does not answer: ${(err as Error).message}. Start Postgres or set DATABASE_URL.`,
      { cause: err },
    )
  }
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

/** Creates the registry's database if it is missing; Apicurio creates its tables in it on first start. */
export async function ensureRegistryDatabase(storage: RegistryStorage): Promise<void> {
  await withAdmin(storage, async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [storage.database])
    if (rowCount) return
    try {
      await client.query(`CREATE DATABASE "${storage.database}"`)
    } catch (err) {
      // Two `up`s at once: the other one created it first.
      if ((err as { code?: string }).code !== '42P04') throw err
    }
  })
}

/** Drops the registry's database (every schema it knew): `infra:down --clean`. */
export async function dropRegistryDatabase(storage: RegistryStorage): Promise<void> {
  await withAdmin(storage, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${storage.database}"`)
  })
}
