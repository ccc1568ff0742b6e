/**
 * Diagnostic for the HTTP benchmark: the cost of scim-core's `server.handle()` alone (no HTTP, no
 * adapter) per request of each scenario, on the same 100,000 preloaded users, next to the same
 * work done by the baselines' hand-written store (BaselineStore + JSON.stringify). The difference
 * between an adapter's and its baseline's time per request, minus this core cost, is what the
 * adapter and its framework integration add.
 *
 *   tsx src/http/core-cost.ts          (prints a markdown table; ~15 s)
 */
import { fileURLToPath } from "node:url";
import { mdTable } from "../harness.js";
import { BaselineStore, coreConfig, loadUsers, SCIM_JSON, TOKEN, USER_SCHEMA } from "./common.js";

interface Case {
  id: string;
  core: (i: number) => Promise<unknown> | unknown;
  base: (i: number) => unknown;
}

let next = 0; // call index, never reused (POST needs unique userNames)
async function time(fn: (i: number) => Promise<unknown> | unknown, ms: number): Promise<number> {
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms)
    for (let k = 0; k < 50; k++, calls++) await fn(next++);
  return ((performance.now() - t0) * 1000) / calls; // µs per call
}

export async function coreCost(ms = 1000): Promise<string> {
  const core: any = await import("scim-core");
  const users = loadUsers();
  const ids = users.map((u) => u.id as string);
  const names = users.map((u) => u.userName as string);
  const store = new BaselineStore(loadUsers());
  const { config } = await coreConfig();
  const server = core.createScimServer({ ...config, baseUrl: "http://127.0.0.1/scim/v2" });
  const headers = { authorization: `Bearer ${TOKEN}`, "content-type": SCIM_JSON };
  const n = ids.length;
  const pick = (i: number) => (i * 7919) % n;
  const handle = async (req: any) => {
    const r = await server.handle({ headers, baseUrl: "http://127.0.0.1/scim/v2", ...req });
    if (r.status >= 300) throw new Error(`${req.method} ${req.path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body === undefined ? "" : JSON.stringify(r.body);
  };
  const postBody = (tag: string, i: number) =>
    JSON.stringify({ schemas: [USER_SCHEMA], userName: `cost.${tag}.${i}@example.com`, name: { givenName: "Post", familyName: `User${i}` }, emails: [{ value: `cost.${tag}.${i}@example.com`, type: "work", primary: true }], active: true });
  const patchBody = (i: number) => JSON.stringify({ schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "active", value: i % 2 === 0 }] });
  const cases: Case[] = [
    {
      id: "lookup",
      core: (i) => handle({ method: "GET", path: "/Users", query: `filter=${encodeURIComponent(`userName eq ${JSON.stringify(names[pick(i)])}`)}` }),
      base: (i) => JSON.stringify(store.query(`userName eq ${JSON.stringify(names[pick(i)])}`, undefined, undefined)),
    },
    {
      id: "get",
      core: (i) => handle({ method: "GET", path: `/Users/${ids[pick(i)]}` }),
      base: (i) => JSON.stringify(store.get(ids[pick(i)])),
    },
    {
      id: "page",
      core: (i) => handle({ method: "GET", path: "/Users", query: `startIndex=${101 + 100 * (i % 998)}&count=100` }),
      base: (i) => JSON.stringify(store.query(undefined, String(101 + 100 * (i % 998)), "100")),
    },
    {
      id: "patch",
      core: (i) => handle({ method: "PATCH", path: `/Users/${ids[pick(i)]}`, body: patchBody(i) }),
      base: (i) => JSON.stringify(store.patch(ids[pick(i)], JSON.parse(patchBody(i)))),
    },
    {
      id: "post",
      core: (i) => handle({ method: "POST", path: "/Users", body: postBody("c", i) }),
      base: (i) => JSON.stringify(store.create(JSON.parse(postBody("b", i)), (id) => `http://127.0.0.1/scim/v2/Users/${id}`)),
    },
  ];
  const rows: string[][] = [];
  for (const c of cases) {
    await time(c.core, 200);
    await time(c.base, 200);
    const coreUs = await time(c.core, ms);
    const baseUs = await time(c.base, ms);
    rows.push([c.id, coreUs.toFixed(1), baseUs.toFixed(1), (coreUs - baseUs).toFixed(1)]);
  }
  return mdTable(["scenario", "scim-core handle() + JSON.stringify, µs", "baseline store + JSON.stringify, µs", "difference, µs"], rows);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  coreCost().then((t) => console.log(t));
}
