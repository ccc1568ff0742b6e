/** scim-nestjs: `ScimModule.forRoot(config)` (path "scim/v2") as the root module of a Nest app on the Express platform. */
import "reflect-metadata";
import { NestFactory } from "@nestjs/core";
import type { NestExpressApplication } from "@nestjs/platform-express";
import type { AddressInfo } from "node:net";
import { ScimModule } from "scim-nestjs";
import { BASE, coreConfig, port, ready } from "../common.js";

const { config, users } = await coreConfig();
const app = await NestFactory.create<NestExpressApplication>(ScimModule.forRoot({ ...config, path: BASE.slice(1) }), { logger: ["error"] });
app.disable("x-powered-by");
await app.listen(port(), "127.0.0.1");
ready((app.getHttpServer().address() as AddressInfo).port, { users });
