/**
 * Opens the SQL store (scim-store-sql) the app keeps its users, groups and events in: PostgreSQL
 * for a `postgres://` URL, otherwise a SQLite file. A relative SQLite path is resolved against
 * the app's folder, not the working directory, so `sqlite:data/scim.db` is always
 * `apps/hono-example/data/scim.db` however the server is started.
 */
import { fileURLToPath } from "node:url";
import { createSqlStore, openDatabase, type SqlScimStore } from "scim-store-sql";

/** The app's folder (the parent of `src/`). */
const appFolder = fileURLToPath(new URL("..", import.meta.url));

/** Where the data lives when `DATABASE_URL` is not set: a SQLite file in the app's `data/` folder. */
export const DEFAULT_DATABASE_URL = "sqlite:data/scim.db";

/** An open store and a printable description of its database (no password). */
export interface OpenedStore {
  store: SqlScimStore;
  /** e.g. `SQLite /srv/app/data/scim.db` or `PostgreSQL postgres://scim@db:5432/scim`. */
  description: string;
}

/**
 * Opens and migrates the store at `url`: `postgres://…` / `postgresql://…` (PostgreSQL),
 * `sqlite:<path>`, `file:<path>` or a plain path (a SQLite file in WAL mode, its folder created),
 * or `:memory:`.
 * @param url the database. @default DEFAULT_DATABASE_URL (`sqlite:data/scim.db`)
 */
export async function openStore(url: string = DEFAULT_DATABASE_URL): Promise<OpenedStore> {
  const database = openDatabase(url, { baseDir: appFolder });
  try {
    return { store: await createSqlStore({ database }), description: database.description };
  } catch (error) {
    await database.destroy();
    throw error;
  }
}
