/**
 * Loading the data set: into a SQL store with `importResources` (multi-row INSERTs, one
 * transaction per chunk of users), and into memoryStore through its documented seeding
 * (`memoryStore({ resources })`, deep-frozen attributes, which it keeps without copying).
 */
import { memoryStore, type MemorySeed, type MemoryStore } from "scim-core";
import type { ImportedResource, SqlScimStore } from "scim-store-sql";
import { GROUP_SCHEMA, TENANT, createdOf, deepFreeze, largeGroupMembers, smallGroupMembers, userAttributes, userKeys } from "./data.js";

export const LARGE_GROUP_ID = "6c4e2f0a-9b1d-4e8a-a1f3-0000000000a1";
export const SMALL_GROUP_ID = "6c4e2f0a-9b1d-4e8a-a1f3-0000000000a2";

const ctx = { tenant: TENANT };

function userWrite(i: number): ImportedResource {
  const attributes = userAttributes(i);
  return {
    id: userKeys(i).id,
    attributes,
    uniqueKeys: [{ attribute: "userName", value: (attributes.userName as string).toLowerCase() }],
    created: createdOf(i),
  };
}

function groups(users: number) {
  const large = largeGroupMembers(users);
  const small = smallGroupMembers(users);
  const group = (id: string, displayName: string, members: number[]) => ({
    id,
    attributes: { schemas: [GROUP_SCHEMA], displayName },
    uniqueKeys: [{ attribute: "displayName", value: displayName.toLowerCase() }],
    members: members.map((i) => ({ value: userKeys(i).id, type: "User" })),
    created: createdOf(users),
  });
  return [group(LARGE_GROUP_ID, `All staff (${large.length.toLocaleString("en")} members)`, large), group(SMALL_GROUP_ID, "Board (10 members)", small)];
}

export interface LoadReport {
  usersMs: number;
  groupsMs: number;
  largeGroupMembers: number;
}

/**
 * Loads `users` users (chunks of `chunk`, one `importResources` transaction each, `parallel`
 * chunks in flight on PostgreSQL's pool) and then the two groups.
 */
export async function loadSql(store: SqlScimStore, users: number, chunk: number, parallel: number, progress: (done: number, ms: number) => void): Promise<LoadReport> {
  const t0 = performance.now();
  let lastReport = t0;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < users) {
      const start = next;
      next = Math.min(users, start + chunk);
      const writes: ImportedResource[] = [];
      for (let i = start; i < next; i++) writes.push(userWrite(i));
      await store.importResources(ctx, "User", writes);
      done += writes.length;
      const t = performance.now();
      if (t - lastReport > 15_000 || done === users) {
        progress(done, t - t0);
        lastReport = t;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  const t1 = performance.now();
  const gs = groups(users);
  await store.importResources(ctx, "Group", gs);
  return { usersMs: t1 - t0, groupsMs: performance.now() - t1, largeGroupMembers: gs[0].members.length };
}

export interface MemoryLoadReport {
  store: MemoryStore;
  ms: number;
  /** Heap used by the store after a full GC, bytes. */
  heapBytes: number;
  rssBytes: number;
}

/** Builds a memoryStore seeded with the same users and groups. */
export function loadMemory(users: number, gc: () => void): MemoryLoadReport {
  gc();
  const before = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const seeds: MemorySeed[] = [];
  for (let i = 0; i < users; i++) {
    const w = userWrite(i);
    seeds.push({ tenant: TENANT, resourceType: "User", id: w.id!, attributes: deepFreeze(w.attributes), uniqueKeys: w.uniqueKeys, created: w.created });
  }
  for (const g of groups(users)) seeds.push({ tenant: TENANT, resourceType: "Group", id: g.id, attributes: deepFreeze(g.attributes), uniqueKeys: g.uniqueKeys, members: g.members, created: g.created });
  const store = memoryStore({ resources: seeds });
  seeds.length = 0;
  const ms = performance.now() - t0;
  gc();
  const m = process.memoryUsage();
  return { store, ms, heapBytes: m.heapUsed - before, rssBytes: m.rss };
}
