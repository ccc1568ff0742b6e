import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { POSTGRES_TEST_URL, postgresReachable } from "./test-databases.js";

const execFileAsync = promisify(execFile);
const ci = process.env.CI === "true" || process.env.CI === "1";

describe("PostgreSQL connection loss", () => {
  // In a child process: the crash this guards against is an 'error' event nobody listens to,
  // which kills the process rather than failing a test.
  it("a connection the server ends inside a transaction fails that transaction, not the process, and the pool goes on", async ({ skip }) => {
    if (!(await postgresReachable())) {
      if (ci) throw new Error(`PostgreSQL is unreachable at ${POSTGRES_TEST_URL}; CI requires it`);
      return skip("PostgreSQL unreachable");
    }
    // Inside the package's node_modules, so that the script finds kysely.
    const dir = mkdtempSync(join(import.meta.dirname, "..", "node_modules", ".tmp-pg-loss-"));
    try {
      const script = join(dir, "loss.mts");
      writeFileSync(
        script,
        `import { sql } from "kysely";
import { openPostgres } from ${JSON.stringify(join(import.meta.dirname, "dialect.ts"))};
const url = ${JSON.stringify(POSTGRES_TEST_URL)};
const a = openPostgres({ connectionString: url, max: 4 });
const admin = openPostgres({ connectionString: url, max: 1 });
const out: string[] = [];
try {
  await a.db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ pid: number }>\`select pg_backend_pid() as pid\`.execute(trx);
    // What a failover, a pgbouncer restart or an idle-session timeout does to the connection.
    await sql\`select pg_terminate_backend(\${rows[0]!.pid})\`.execute(admin.db);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await sql\`select 1\`.execute(trx);
  });
  out.push("committed");
} catch (error) {
  out.push("rejected");
}
const again = await sql<{ one: number }>\`select 1 as one\`.execute(a.db);
out.push(\`after: \${again.rows[0]!.one}\`);
await a.destroy();
await admin.destroy();
process.stdout.write(JSON.stringify(out));
`,
      );
      const cwd = join(import.meta.dirname, "..");
      const { stdout } = await execFileAsync(process.execPath, ["--import", "tsx", script], { cwd, timeout: 30_000 }).catch((error: { stderr?: string; code?: unknown }) => {
        throw new Error(`the process failed (${String(error.code)}): ${error.stderr ?? ""}`);
      });
      expect(JSON.parse(stdout)).toEqual(["rejected", "after: 1"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
