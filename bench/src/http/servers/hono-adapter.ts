/** scim-hono: `app.route("/scim/v2", scimHono(createScimServer(config)))` on @hono/node-server over scim-core's memoryStore. */
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createScimServer } from "scim-core";
import { scimHono } from "scim-hono";
import { BASE, coreConfig, port, ready } from "../common.js";

const { config, users } = await coreConfig();
const app = new Hono();
app.route(BASE, scimHono(createScimServer(config)));
serve({ fetch: app.fetch, port: port(), hostname: "127.0.0.1" }, (info) => ready(info.port, { users }));
