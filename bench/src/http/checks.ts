/**
 * Correctness of each HTTP benchmark server, checked before the timed runs on the scenarios'
 * requests (plus the answers a SCIM client relies on around them). A hand-written baseline is only
 * held to what it implements (`–` for the rest). Requests go to 127.0.0.1 only, a few dozen.
 */
import { BASE, SCIM_JSON, TOKEN, USER_SCHEMA } from "./common.js";

export interface CheckResult {
  name: string;
  ok: boolean;
  skipped?: boolean;
  detail: string;
}

export interface CheckUser {
  id: string;
  userName: string;
  /** Enterprise extension department, where the user has one. */
  department?: string;
}

const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

function swapCase(s: string): string {
  return [...s].map((c) => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())).join("");
}

export async function runChecks(port: number, role: "adapter" | "baseline" | "peer", users: CheckUser[]): Promise<CheckResult[]> {
  const origin = `http://127.0.0.1:${port}`;
  const call = async (method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<Answer> => {
    const headers: Record<string, string> = { accept: SCIM_JSON };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = SCIM_JSON;
    const res = await fetch(origin + BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
  const results: CheckResult[] = [];
  const check = async (name: string, fn: () => Promise<string | true>, requiredOfBaseline = true) => {
    if (role === "baseline" && !requiredOfBaseline) {
      results.push({ name, ok: true, skipped: true, detail: "" });
      return;
    }
    try {
      const r = await fn();
      results.push({ name, ok: r === true, detail: r === true ? "" : r });
    } catch (e) {
      results.push({ name, ok: false, detail: `threw ${(e as Error).message}`.slice(0, 120) });
    }
  };
  const short = (a: Answer) => `${a.status} ${typeof a.body === "string" ? a.body : JSON.stringify(a.body)}`.slice(0, 110);
  const n = users.length;
  const u = users[Math.floor(n * 0.4242)];
  const ent = users.find((x, i) => i > n / 3 && x.department !== undefined)!;

  await check("401 without a token", async () => {
    const a = await call("GET", `/Users/${u.id}`, undefined, null);
    return a.status === 401 || short(a);
  });
  await check("GET /Users/{id}", async () => {
    const a = await call("GET", `/Users/${u.id}`);
    return (a.status === 200 && a.body?.id === u.id && a.body?.userName === u.userName) || short(a);
  });
  await check("GET returns the enterprise extension", async () => {
    const a = await call("GET", `/Users/${ent.id}`);
    return (a.status === 200 && a.body?.[ENTERPRISE]?.department === ent.department) || short(a);
  });
  await check("GET unknown id: 404", async () => {
    const a = await call("GET", `/Users/00000000-0000-4000-8000-000000000000`);
    return a.status === 404 || short(a);
  });
  const lookup = (userName: string) => call("GET", `/Users?filter=${encodeURIComponent(`userName eq ${JSON.stringify(userName)}`)}`);
  await check("userName eq: the one user", async () => {
    const a = await lookup(u.userName);
    return (a.status === 200 && a.body?.totalResults === 1 && a.body?.Resources?.length === 1 && a.body.Resources[0].id === u.id) || short(a);
  });
  await check("userName eq for 40 users (20 non-ASCII)", async () => {
    const ascii = users.filter((x, i) => i % 997 === 3 && /^[\x20-\x7e]*$/.test(x.userName)).slice(0, 20);
    const other = users.filter((x, i) => i % 101 === 7 && /[^\x20-\x7e]/.test(x.userName)).slice(0, 20);
    for (const x of [...ascii, ...other]) {
      const a = await lookup(x.userName);
      if (!(a.status === 200 && a.body?.totalResults === 1 && a.body?.Resources?.[0]?.id === x.id)) return `${x.userName}: ${short(a)}`;
    }
    return true;
  });
  await check("userName eq in another case (caseExact false)", async () => {
    const a = await lookup(swapCase(u.userName));
    return (a.status === 200 && a.body?.totalResults === 1 && a.body?.Resources?.[0]?.id === u.id) || short(a);
  });
  const page = async (startIndex: number) => {
    const a = await call("GET", `/Users?startIndex=${startIndex}&count=100`);
    const rs = a.body?.Resources;
    if (a.status !== 200 || !Array.isArray(rs)) return short(a);
    const want = users.slice(startIndex - 1, startIndex + 99).map((x) => x.id);
    const got = rs.map((r: any) => r.id);
    if (a.body.totalResults !== n) return `totalResults ${a.body.totalResults}, expected ${n}`;
    if (got.length !== want.length) return `${got.length} resources, expected ${want.length}`;
    if (got.some((id: string, i: number) => id !== want[i])) return `wrong resources (first ${got[0]}, expected ${want[0]})`;
    if (a.body.startIndex !== startIndex || a.body.itemsPerPage !== 100) return `startIndex ${a.body.startIndex}, itemsPerPage ${a.body.itemsPerPage}`;
    return true as const;
  };
  await check("page startIndex=201&count=100", () => page(201));
  await check("page startIndex=51&count=100", () => page(51));
  const userName = `check.${role}.${port}@example.com`;
  let createdId: string | undefined;
  await check("POST: 201, id, Location", async () => {
    const a = await call("POST", "/Users", { schemas: [USER_SCHEMA], userName, name: { givenName: "Check", familyName: "User" }, active: true });
    createdId = a.body?.id;
    if (a.status !== 201 || typeof a.body?.id !== "string" || a.body.userName !== userName) return short(a);
    return a.headers.get("location") ? true : "201 without a Location header";
  });
  await check("POSTed user found by userName eq", async () => {
    const a = await lookup(userName);
    return (a.status === 200 && a.body?.totalResults === 1 && a.body?.Resources?.[0]?.id === createdId) || short(a);
  });
  await check("POST duplicate userName: 409 uniqueness", async () => {
    const a = await call("POST", "/Users", { schemas: [USER_SCHEMA], userName: userName.toUpperCase() });
    return (a.status === 409 && a.body?.scimType === "uniqueness") || short(a);
  }, false);
  await check("PATCH replace active, then GET", async () => {
    const before = await call("GET", `/Users/${u.id}`);
    const want = !before.body?.active;
    const a = await call("PATCH", `/Users/${u.id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "active", value: want }] });
    if (!(a.status === 204 || (a.status === 200 && a.body?.active === want))) return short(a);
    const after = await call("GET", `/Users/${u.id}`);
    if (after.body?.active !== want) return `GET after PATCH: active ${after.body?.active}`;
    if (after.body?.userName !== u.userName) return "PATCH lost userName";
    return true;
  });
  await check("PATCH changes meta.version", async () => {
    const before = await call("GET", `/Users/${u.id}`);
    await call("PATCH", `/Users/${u.id}`, { schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], Operations: [{ op: "replace", path: "active", value: !before.body?.active }] });
    const after = await call("GET", `/Users/${u.id}`);
    const v0 = before.body?.meta?.version;
    const v1 = after.body?.meta?.version;
    return (typeof v1 === "string" && v1 !== v0) || `meta.version ${JSON.stringify(v0)} -> ${JSON.stringify(v1)}`;
  }, false);
  return results;
}
