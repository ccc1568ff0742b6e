/**
 * The storage floor of the DIRECTORY benchmark, hand-written: what the SQLite writes of one
 * provisioned user cost by themselves, with nothing else in the process (no HTTP, no JSON
 * parsing, no validation, no query builder).
 *
 * A child process (`node --import tsx`): it creates the service's database on a fresh file
 * (scim-directory's `createDirectorySync` migrates it and issues a directory token, as the
 * service's first run does), then writes, for each user, the rows the service writes for a
 * `POST /Users`, with prepared better-sqlite3 statements of its own: the token lookup (the
 * service's token-and-directory join), the resource row, its email row, its `user.created` event,
 * the live count, and its audit entry (multi-row, every 100 users, as the service batches them).
 * The file is set up as the service sets it up (WAL, `synchronous = NORMAL`, the writer's temporary
 * files in memory, WAL checkpoints on a
 * worker thread); users go GROUP to a transaction (the service's group commit shares a COMMIT
 * between about five requests at 10 connections), each in a savepoint.
 *
 * Env: BENCH_FLOOR_DB (the file), BENCH_FLOOR_USERS, BENCH_FLOOR_WARMUP, BENCH_FLOOR_GROUP (5),
 Prints one JSON line: `{"floor":true,"users":...,"ms":...}`.
 */
import { createHash, randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { createDirectorySync } from "scim-directory";
import { openSqlite, startCheckpointer } from "scim-store-sql";
import { oktaUserObject } from "./okta-user.js";

const file = process.env.BENCH_FLOOR_DB;
if (!file) throw new Error("BENCH_FLOOR_DB is required");
const USERS = Number(process.env.BENCH_FLOOR_USERS ?? 5_000);
const WARMUP = Number(process.env.BENCH_FLOOR_WARMUP ?? 300);
const GROUP = Number(process.env.BENCH_FLOOR_GROUP ?? 5);
const AUDIT_EVERY = 100;

// The service's schema, directory and token, made by the service's own code.
const sync = await createDirectorySync({ database: openSqlite({ filename: file }) });
const directory = await sync.directories.create({ organizationId: "org_floor", name: "Floor", type: "okta" });
const { token } = await sync.tokens.create(directory.id);
await sync.close();

const require = createRequire(import.meta.url);
type Statement = { run(...p: unknown[]): unknown; get(...p: unknown[]): unknown };
const Database = require("better-sqlite3") as new (file: string) => { prepare(sql: string): Statement; exec(sql: string): void; pragma(s: string): unknown; close(): void };
const db = new Database(file);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");
db.pragma("temp_store = MEMORY");
const checkpointer = startCheckpointer(db, file, require.resolve("better-sqlite3"));

const selectToken = db.prepare(
  `select t.*, d.organization_id as d_organization_id, d.name as d_name, d.type as d_type, d.state as d_state, d.settings as d_settings, d.created_at as d_created_at, d.updated_at as d_updated_at
   from dir_tokens as t inner join dir_directories as d on d.id = t.directory_id where t.token_hash = ? and t.directory_id = ?`,
);
const insertResource = db.prepare(
  `insert into scim_resources (tenant, resource_type, id, version, user_name, user_name_lower, external_id, display_name, display_name_lower, active, user_name_key, display_name_key, deleted, created, last_modified, doc)
   values (?, 'User', ?, 1, ?, ?, ?, ?, ?, ?, ?, null, 0, ?, ?, ?)`,
);
const insertEmail = db.prepare(`insert into scim_emails (tenant, resource_id, position, value, value_lower, type_lower, is_primary) values (?, ?, ?, ?, ?, ?, ?)`);
const insertEvent = db.prepare(`insert into scim_outbox (id, tenant, type, resource_type, resource_id, occurred_at, payload) values (?, ?, 'user.created', 'User', ?, ?, ?)`);
const addCount = db.prepare(`insert into scim_counts (tenant, resource_type, live) values (?, 'User', 1) on conflict (tenant, resource_type) do update set live = live + excluded.live`);
const insertAudit = db.prepare(
  `insert into dir_audit_log (id, at, kind, directory_id, actor, method, path, status, duration_ms, resource_id, detail) values (?, ?, 'scim', ?, ?, 'POST', ?, 201, 1.5, ?, null)`,
);

const tenant = directory.id;
const tokenHash = createHash("sha256").update(token).digest("hex");
const path = `/scim/v2/${tenant}/Users`;
let audit: [string, string, string][] = [];

function writeUser(tag: string, i: number): void {
  const found = selectToken.get(tokenHash, tenant) as { id: string } | undefined;
  if (found === undefined) throw new Error("the token row is missing");
  const { password: _password, groups: _groups, ...user } = oktaUserObject(tag, i);
  const id = randomUUID();
  const at = new Date().toISOString();
  const userName = user.userName;
  const doc = JSON.stringify(user);
  insertResource.run(tenant, id, userName, userName.toLowerCase(), user.externalId, user.displayName, user.displayName.toLowerCase(), 1, userName.toLowerCase(), at, at, doc);
  const email = user.emails[0]!;
  insertEmail.run(tenant, id, 0, email.value, email.value.toLowerCase(), email.type, 1);
  insertEvent.run(randomUUID(), tenant, id, at, JSON.stringify({ type: "user.created", tenant, resourceType: "User", resourceId: id, occurredAt: at, resource: { id, ...user } }));
  addCount.run(tenant);
  audit.push([at, found.id, id]);
}

function flushAudit(): void {
  db.exec("begin immediate");
  for (const [at, tokenId, resourceId] of audit) insertAudit.run(randomUUID(), at, tenant, tokenId, path, resourceId);
  db.exec("commit");
  audit = [];
}

function run(tag: string, from: number, to: number): void {
  for (let i = from; i < to; ) {
    db.exec("begin immediate");
    for (let k = 0; k < GROUP && i < to; k++, i++) {
      db.exec("savepoint unit");
      writeUser(tag, i);
      db.exec("release unit");
    }
    db.exec("commit");
    if (audit.length >= AUDIT_EVERY) flushAudit();
  }
  if (audit.length > 0) flushAudit();
}

run("w", 0, WARMUP);
const started = performance.now();
run("u", 0, USERS);
const ms = performance.now() - started;
await checkpointer.stop();
db.close();
process.stdout.write(JSON.stringify({ floor: true, users: USERS, ms }) + "\n");
