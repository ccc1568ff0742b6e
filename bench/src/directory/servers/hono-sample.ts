/**
 * The Hono sample app (apps/hono-example's `createApp`), served by @hono/node-server: SCIM at
 * `/scim/v2`, one bearer token. With scim-core's `memoryStore()` (no database, no events), or,
 * when BENCH_DIRECTORY_SAMPLE_DB names a file, with the app's own SQL store on that SQLite file
 * (`openStore`, its outbox as the event subscriber, as the app's server.ts wires it).
 */
import { serve } from "@hono/node-server";
import { memoryStore, type ScimEventSubscriber, type ScimStore } from "scim-core";
import { createApp } from "../../../../apps/hono-example/src/app.js";
import { openStore } from "../../../../apps/hono-example/src/database.js";
import { ready } from "./common.js";

const token = process.env.BENCH_DIRECTORY_SAMPLE_TOKEN ?? "bench-sample-token";
const file = process.env.BENCH_DIRECTORY_SAMPLE_DB;
let store: ScimStore;
let subscribers: ScimEventSubscriber[] = [];
let closeStore = async () => {};
if (file) {
  const opened = await openStore(`sqlite:${file}`);
  store = opened.store;
  subscribers = [opened.store.outbox];
  closeStore = () => opened.store.close();
} else {
  store = memoryStore();
}
const app = createApp({ store, token, subscribers });
const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" }, (info) => {
  ready({ port: info.port, token, scimBase: "/scim/v2" }, () => new Promise<void>((resolve) => server.close(() => resolve())).then(closeStore));
});
