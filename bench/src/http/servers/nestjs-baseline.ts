/**
 * Hand-written SCIM-ish Users controller on NestJS (Express platform), the baseline for
 * scim-nestjs: a guard for the bearer token, a controller over the same store as the other
 * baselines (../common.ts, BaselineStore), injected with an explicit @Inject (tsx/esbuild emits no
 * decorator metadata). Needs `experimentalDecorators` (bench/tsconfig.json).
 */
import "reflect-metadata";
import {
  Body,
  Controller,
  Get,
  HttpException,
  Inject,
  Injectable,
  Module,
  Param,
  Patch,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import type { NestExpressApplication } from "@nestjs/platform-express";
import type { Request, Response } from "express";
import type { AddressInfo } from "node:net";
import { authorized, BaselineStore, BASE, errorBody, loadUsers, port, ready, SCIM_JSON } from "../common.js";

const STORE = "SCIM_BASELINE_STORE";

@Injectable()
class BearerGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    if (authorized(req.headers.authorization)) return true;
    throw new HttpException(errorBody(401, "bearer token required"), 401);
  }
}

function send(res: Response, status: number, body: unknown): void {
  res.status(status).type(SCIM_JSON).json(body);
}

@Controller(`${BASE.slice(1)}/Users`)
@UseGuards(BearerGuard)
class UsersController {
  constructor(@Inject(STORE) private readonly store: BaselineStore) {}

  @Get()
  list(@Query() q: Record<string, unknown>, @Res() res: Response): void {
    const str = (v: unknown) => (typeof v === "string" ? v : undefined);
    const r = this.store.query(str(q.filter), str(q.startIndex), str(q.count));
    if ("error" in r) send(res, 400, errorBody(400, r.error, "invalidFilter"));
    else send(res, 200, r);
  }

  @Get(":id")
  get(@Param("id") id: string, @Res() res: Response): void {
    const u = this.store.get(id);
    if (!u) send(res, 404, errorBody(404, "not found"));
    else send(res, 200, u);
  }

  @Post()
  create(@Body() body: unknown, @Req() req: Request, @Res() res: Response): void {
    const u = this.store.create(body, (id) => `${req.protocol}://${req.get("host")}${BASE}/Users/${id}`);
    res.location(u.meta.location);
    send(res, 201, u);
  }

  @Patch(":id")
  patch(@Param("id") id: string, @Body() body: unknown, @Res() res: Response): void {
    const r = this.store.patch(id, body);
    if (r === undefined) send(res, 404, errorBody(404, "not found"));
    else if ("error" in r) send(res, 400, errorBody(400, String(r.error), "invalidValue"));
    else send(res, 200, r);
  }
}

const store = new BaselineStore(loadUsers());

@Module({ controllers: [UsersController], providers: [{ provide: STORE, useValue: store }, BearerGuard] })
class AppModule {}

const app = await NestFactory.create<NestExpressApplication>(AppModule, { logger: ["error"], bodyParser: false });
app.useBodyParser("json", { type: ["application/json", SCIM_JSON] });
app.disable("x-powered-by");
app.disable("etag");
await app.listen(port(), "127.0.0.1");
ready((app.getHttpServer().address() as AddressInfo).port, { users: store.list.length });
