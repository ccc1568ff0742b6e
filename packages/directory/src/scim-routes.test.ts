import { openSqlite } from "scim-store-sql";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDirectorySync, type DirectorySync } from "./directory-sync.js";
import { RateLimiter } from "./rate-limit.js";
import { directoryScimRoutes } from "./scim-routes.js";

describe("SCIM routes: requests to directories that do not exist", () => {
  let sync: DirectorySync;
  beforeEach(async () => {
    sync = await createDirectorySync({ database: openSqlite({ filename: ":memory:" }) });
  });
  afterEach(() => sync.close());

  it("leave no audit rows and spend the client address's failure bucket, so made-up ids cannot flood the log or the limiter", async () => {
    // A stopped clock: nothing refills during the test.
    const app = directoryScimRoutes(sync, { rateLimiter: new RateLimiter({ now: () => 0 }) });
    const real = await sync.directories.create({ organizationId: "o", name: "real", settings: { rateLimit: { requestsPerSecond: 1, burst: 1000 } } });
    const { token } = await sync.tokens.create(real.id);
    const statuses: number[] = [];
    for (let i = 0; i < 260; i++) {
      const id = `dir_${i.toString(16).padStart(24, "0")}`;
      statuses.push((await app.request(`http://x.test/scim/v2/${id}/Users`)).status);
    }
    expect(new Set(statuses)).toEqual(new Set([401, 429]));
    // 100 failures (the default burst), then refusals before any token work.
    expect(statuses.filter((s) => s === 401)).toHaveLength(100);
    await sync.audit.flush();
    const rows = await sync.db.selectFrom("dir_audit_log").select("id").execute();
    expect(rows).toEqual([]);
    // The real directory keeps its own bucket (from another address) and is audited, with its token id.
    const ok = await app.request(`http://x.test/scim/v2/${real.id}/Users`, { headers: { authorization: `Bearer ${token}` } }, { incoming: { socket: { remoteAddress: "10.0.0.1" } } });
    expect(ok.status).toBe(200);
    await sync.audit.flush();
    const audited = await sync.db.selectFrom("dir_audit_log").selectAll().execute();
    expect(audited).toHaveLength(1);
    expect(audited[0]).toMatchObject({ directory_id: real.id, status: 200 });
    expect(audited[0]!.actor).toMatch(/^tok_/);
  });
});
