/**
 * PostgreSQL connections per tenant. A tenant's writes take turns on its lock (an advisory lock:
 * see `SqlScimStore.lockTenant`), and each one waiting for it holds a pool connection meanwhile:
 * a queue of writes behind one long transaction (a 20,000-member PATCH) took every connection,
 * and other tenants' writes waited for the whole of it (a review measured 14 s). Units of work
 * whose tenant is known before they start take one of the tenant's slots first, in memory: a
 * tenant holds at most half the pool, and the rest stays for the others.
 */
import type { ScimSqlDatabase } from "./dialect.js";
import { Slots } from "./slots.js";

/** @internal {@link Slots} per tenant, each tenant's kept only while it has holders or waiters. */
export class TenantSlots {
  private readonly busy = new Map<string, Slots>();

  constructor(readonly perTenant: number) {}

  /** Runs `work` once the tenant has a free slot, and frees it after. */
  async run<T>(tenant: string, work: () => Promise<T>): Promise<T> {
    let slots = this.busy.get(tenant);
    if (slots === undefined) this.busy.set(tenant, (slots = new Slots(this.perTenant)));
    await slots.take();
    try {
      return await work();
    } finally {
      slots.give();
      if (slots.idle) this.busy.delete(tenant);
    }
  }
}

const byDatabase = new WeakMap<ScimSqlDatabase, TenantSlots>();

/**
 * The slots of a PostgreSQL database's pool, shared by every store opened on it: half its
 * connections per tenant (at least one). None for SQLite, which runs one write at a time anyway.
 */
export function tenantSlotsOf(database: ScimSqlDatabase): TenantSlots | undefined {
  if (database.dialect !== "postgres") return undefined;
  let slots = byDatabase.get(database);
  if (slots === undefined) byDatabase.set(database, (slots = new TenantSlots(Math.max(1, Math.floor((database.poolSize ?? 10) / 2)))));
  return slots;
}
