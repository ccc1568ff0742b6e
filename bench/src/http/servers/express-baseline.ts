/**
 * Hand-written SCIM-ish Users endpoint on Express 5 (the baseline for scim-express): bearer check,
 * `userName eq` from a Map, paging by array slice, naive PATCH of `active`, POST that validates
 * nothing. See ../common.ts (BaselineStore).
 */
import express, { type NextFunction, type Request, type Response } from "express";
import type { AddressInfo } from "node:net";
import { authorized, BaselineStore, BASE, errorBody, loadUsers, port, ready, SCIM_JSON } from "../common.js";

const store = new BaselineStore(loadUsers());

const app = express();
app.disable("x-powered-by");
app.disable("etag");
const router = express.Router();
router.use(express.json({ type: ["application/json", SCIM_JSON] }));
router.use((req: Request, res: Response, next: NextFunction) => {
  if (!authorized(req.headers.authorization)) {
    res.status(401).type(SCIM_JSON).json(errorBody(401, "bearer token required"));
    return;
  }
  next();
});
const send = (res: Response, status: number, body: unknown) => res.status(status).type(SCIM_JSON).json(body);
const str = (v: unknown) => (typeof v === "string" ? v : undefined);
const location = (req: Request) => (id: string) => `${req.protocol}://${req.get("host")}${BASE}/Users/${id}`;

router.get("/Users", (req, res) => {
  const r = store.query(str(req.query.filter), str(req.query.startIndex), str(req.query.count));
  if ("error" in r) send(res, 400, errorBody(400, r.error, "invalidFilter"));
  else send(res, 200, r);
});
router.get("/Users/:id", (req, res) => {
  const u = store.get(req.params.id);
  if (!u) send(res, 404, errorBody(404, "not found"));
  else send(res, 200, u);
});
router.post("/Users", (req, res) => {
  const u = store.create(req.body, location(req));
  res.location(u.meta.location);
  send(res, 201, u);
});
router.patch("/Users/:id", (req, res) => {
  const r = store.patch(req.params.id, req.body);
  if (r === undefined) send(res, 404, errorBody(404, "not found"));
  else if ("error" in r) send(res, 400, errorBody(400, String(r.error), "invalidValue"));
  else send(res, 200, r);
});
app.use(BASE, router);

const server = app.listen(port(), "127.0.0.1", () => ready((server.address() as AddressInfo).port, { users: store.list.length }));
