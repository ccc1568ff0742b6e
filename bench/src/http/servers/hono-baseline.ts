/**
 * Hand-written SCIM-ish Users endpoint on Hono + @hono/node-server (the baseline for scim-hono);
 * same store as the other baselines (../common.ts, BaselineStore).
 */
import { serve } from "@hono/node-server";
import { Hono, type Context } from "hono";
import { authorized, BaselineStore, BASE, errorBody, loadUsers, port, ready, SCIM_JSON } from "../common.js";

const store = new BaselineStore(loadUsers());

const send = (c: Context, status: number, body: unknown, headers: Record<string, string> = {}) =>
  c.body(JSON.stringify(body), status as 200, { "Content-Type": SCIM_JSON, ...headers });

const scim = new Hono();
scim.use("*", async (c, next) => {
  if (!authorized(c.req.header("authorization"))) return send(c, 401, errorBody(401, "bearer token required"));
  await next();
});
scim.get("/Users", (c) => {
  const r = store.query(c.req.query("filter"), c.req.query("startIndex"), c.req.query("count"));
  return "error" in r ? send(c, 400, errorBody(400, r.error, "invalidFilter")) : send(c, 200, r);
});
scim.get("/Users/:id", (c) => {
  const u = store.get(c.req.param("id"));
  return u ? send(c, 200, u) : send(c, 404, errorBody(404, "not found"));
});
scim.post("/Users", async (c) => {
  const origin = new URL(c.req.url).origin;
  const u = store.create(await c.req.json(), (id) => `${origin}${BASE}/Users/${id}`);
  return send(c, 201, u, { Location: u.meta.location });
});
scim.patch("/Users/:id", async (c) => {
  const r = store.patch(c.req.param("id"), await c.req.json());
  if (r === undefined) return send(c, 404, errorBody(404, "not found"));
  if ("error" in r) return send(c, 400, errorBody(400, String(r.error), "invalidValue"));
  return send(c, 200, r);
});

const app = new Hono();
app.route(BASE, scim);

serve({ fetch: app.fetch, port: port(), hostname: "127.0.0.1" }, (info) => ready(info.port, { users: store.list.length }));
