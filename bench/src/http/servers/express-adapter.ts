/** scim-express: `app.use("/scim/v2", scimExpress(createScimServer(config)))` over scim-core's memoryStore. */
import express from "express";
import type { AddressInfo } from "node:net";
import { createScimServer } from "scim-core";
import { scimExpress } from "scim-express";
import { BASE, coreConfig, port, ready } from "../common.js";

const { config, users } = await coreConfig();
const app = express();
app.disable("x-powered-by");
app.use(BASE, scimExpress(createScimServer(config)));
const server = app.listen(port(), "127.0.0.1", () => ready((server.address() as AddressInfo).port, { users }));
