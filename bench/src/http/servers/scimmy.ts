/**
 * scimmy 1.3.5 + scimmy-routers 1.3.2 on Express, with the User resource's ingress / egress /
 * degress handlers over an in-memory array and Maps, written as a fair user of scimmy would:
 *
 *  - egress by id: a Map lookup (scimmy then formats the one resource);
 *  - egress with a filter that is exactly `userName eq "..."` (scimmy's parsed Filter is
 *    `[{ userName: ["eq", value] }]`): a Map lookup by lower-cased userName; any other filter:
 *    scimmy's own `filter.match` over the array;
 *  - egress of a page: the handler slices the page itself and reports the total through
 *    `resource.constraints.totalResults`, so that scimmy formats 100 users, not 100,000 (scimmy's
 *    `User#read` builds a `Schemas.User` for every element egress returns);
 *  - ingress (POST, and the write half of PATCH): uniqueness of userName checked in the Map, the
 *    instance stored as plain JSON with a new meta.version, indexes updated.
 *
 * scimmy-routers casts `startIndex`/`count` to numbers by assigning to `req.query`; under Express 5
 * `req.query` is a getter that parses the query string again on every read, so the cast is lost
 * (and scimmy then ignores both). One middleware pins `req.query` as a plain property so the
 * routers work as on Express 4, for which they were written.
 */
import express, { type NextFunction, type Request, type Response } from "express";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";
import type { User } from "../../users.js";
import { authorized, BASE, loadUsers, port, ready } from "../common.js";

const list: User[] = loadUsers();
const byId = new Map<string, number>(); // id -> index in list
const byUserName = new Map<string, string>(); // lower-cased userName -> id
list.forEach((u, i) => {
  byId.set(u.id, i);
  byUserName.set(String(u.userName).toLowerCase(), u.id);
});

// scimmy's typings want a string scimType; scimmy itself passes null where there is none.
const ScimError = SCIMMY.Types.Error as unknown as new (status: number, scimType: string | null, message: string) => Error;
let version = 0; // meta.version of writes (scimmy leaves versions to the handler)
const notFound = (id: string) => new ScimError(404, null, `Resource ${id} not found`);

SCIMMY.Resources.declare(SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false))
  .egress(((resource: any) => {
    if (resource.id !== undefined) {
      const i = byId.get(resource.id);
      if (i === undefined) throw notFound(resource.id);
      return list[i];
    }
    const filter = resource.filter;
    if (filter && filter.length === 1) {
      const keys = Object.keys(filter[0]);
      const expr = filter[0][keys[0]];
      if (keys.length === 1 && keys[0].toLowerCase() === "username" && Array.isArray(expr) && expr[0] === "eq" && typeof expr[1] === "string") {
        const id = byUserName.get(expr[1].toLowerCase());
        return id === undefined ? [] : [list[byId.get(id)!]];
      }
    }
    const all: User[] = filter ? filter.match(list) : list;
    const c = resource.constraints ?? {};
    if (c.sortBy !== undefined) return all; // scimmy sorts and pages the whole list itself
    const startIndex = Math.max(1, c.startIndex ?? 1);
    const count = Math.max(0, c.count ?? 20);
    resource.constraints = { ...c, startIndex, count, totalResults: all.length };
    return all.slice(startIndex - 1, startIndex - 1 + count);
  }) as any)
  .ingress((resource: any, instance: any) => {
    const data = JSON.parse(JSON.stringify(instance));
    const key = String(data.userName).toLowerCase();
    const now = new Date().toISOString();
    if (resource.id !== undefined) {
      const i = byId.get(resource.id);
      if (i === undefined) throw notFound(resource.id);
      const old = list[i];
      const holder = byUserName.get(key);
      if (holder !== undefined && holder !== old.id) throw new ScimError(409, "uniqueness", "userName is taken");
      const next = { ...data, id: old.id, meta: { ...old.meta, lastModified: now, version: `W/"${++version}"` } };
      byUserName.delete(String(old.userName).toLowerCase());
      byUserName.set(key, old.id);
      list[i] = next;
      return next;
    }
    if (byUserName.has(key)) throw new ScimError(409, "uniqueness", "userName is taken");
    const id = randomUUID();
    const created = { ...data, id, meta: { resourceType: "User", created: now, lastModified: now, version: `W/"${++version}"` } };
    byId.set(id, list.length);
    byUserName.set(key, id);
    list.push(created);
    return created;
  })
  .degress((resource: any) => {
    const i = byId.get(resource.id);
    if (i === undefined) throw notFound(resource.id);
    throw new ScimError(501, null, "DELETE is not part of the benchmark");
  });

const app = express();
app.disable("x-powered-by");
app.disable("etag");
app.use(BASE, (req: Request, _res: Response, next: NextFunction) => {
  Object.defineProperty(req, "query", { value: { ...req.query }, writable: true, configurable: true, enumerable: true });
  next();
});
app.use(
  BASE,
  new SCIMMYRouters({
    type: "bearer",
    docUri: "https://example.com/help/oauth.html",
    handler: (req: Request) => {
      if (!authorized(req.headers.authorization)) throw new Error("Authorization not detected!");
      return "bench";
    },
  }) as unknown as express.Router,
);

const server = app.listen(port(), "127.0.0.1", () => ready((server.address() as AddressInfo).port, { users: list.length }));
