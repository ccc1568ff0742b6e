/**
 * scim-express: serves a scim-core server (RFC 7644) from an Express 5 (or 4) app. Translation
 * only: an Express request becomes a plain `ScimRequest`, the `ScimResponse` goes back on `res`.
 * @packageDocumentation
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import {
  adapterRequest,
  connectionSignal,
  errorResponse,
  hostParsedBody,
  invalidHost,
  nodeRequestHeaders,
  originForm,
  readNodeBody,
  refusesHost,
  requestScheme,
  ScimConfigError,
  type ScimResponse,
  type ScimServer,
  writeNodeResponse,
} from "scim-core";

/** Options of {@link scimExpress}. */
export interface ScimExpressOptions {
  /**
   * Most request body bytes read: a larger body is not read further, and the server answers
   * 413. Keep it at least the server's limit.
   * @default server.maxBodyBytes (the larger of its `maxBodyBytes` and `bulk.maxPayloadSize`)
   */
  maxBodyBytes?: number;
}

/**
 * The body: what a body parser that ran before left in `req.body` (it consumed the stream:
 * body-parser 1.x marks `req._body`, 2.x ends the stream), else the raw bytes (undefined if empty),
 * at most `limit + 1` of them so that the server answers 413 (scim-core's `readNodeBody`: the rest
 * is dropped up to `limit` more bytes, then the connection closes after the answer).
 */
function readBody(req: Request, res: Response, limit: number): Promise<unknown> {
  if (hostParsedBody(req)) return Promise.resolve(req.body);
  // The core reads no body on GET and HEAD: Node discards an unread one after the response.
  if (req.method === "GET" || req.method === "HEAD") return Promise.resolve(undefined);
  if (Number(req.headers["content-length"]) > limit) return Promise.resolve(undefined); // the server checks Content-Length
  return readNodeBody(req, res, limit);
}

/** Whether the client is gone, so that nothing is to be written. */
function gone(req: Request, res: Response): boolean {
  return res.destroyed || req.socket?.destroyed === true;
}

/**
 * An Express handler serving every SCIM endpoint of `server` (RFC 7644 §3) under its mount path:
 * `app.use("/scim/v2", scimExpress(scim))`. The request's protocol, Host and mount path
 * (`req.baseUrl`) give `ScimRequest.baseUrl`, so `Location` and `meta.location` are right unless
 * `config.baseUrl` overrides them (set it behind proxies that rewrite the host).
 */
export function scimExpress(server: ScimServer, options: ScimExpressOptions = {}): RequestHandler {
  const limit = options.maxBodyBytes ?? server.maxBodyBytes ?? 1048576;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new ScimConfigError("scimExpress: maxBodyBytes must be a positive integer");
  const serve = async (req: Request, res: Response): Promise<void> => {
    const signal = connectionSignal(req, res);
    let body: unknown;
    try {
      body = await readBody(req, res, limit);
    } catch (error) {
      if (gone(req, res) || req.destroyed) return; // the connection is gone: no one to answer
      throw error;
    }
    // The request's own path below the mount, as sent (`req.url`, not `req.path`, which drops a
    // `#...` the request target cannot hold: `DELETE /Users/<id>#x` names no user); an
    // absolute-form target (RFC 9112 §3.2.2) without its scheme and authority.
    const queryAt = req.originalUrl.indexOf("?");
    const url = originForm(req.url);
    const pathEnd = url.indexOf("?");
    const host = req.get("host");
    let response: ScimResponse;
    if (refusesHost(host, req.rawHeaders)) response = errorResponse(invalidHost());
    else {
      response = await server.handle(
        adapterRequest(
          {
            method: req.method,
            path: pathEnd === -1 ? url : url.slice(0, pathEnd),
            query: queryAt === -1 ? "" : req.originalUrl.slice(queryAt),
            headers: nodeRequestHeaders(req),
            body,
            baseUrl: `${requestScheme(req.protocol, req.socket as { encrypted?: boolean })}://${host ?? "localhost"}${req.baseUrl}`,
            maxBodyBytes: limit,
          },
          signal,
        ),
      );
    }
    if (gone(req, res) || res.headersSent || res.writableEnded) return;
    writeNodeResponse(res, response, req.complete);
  };
  return (req: Request, res: Response, next: NextFunction) => {
    serve(req, res).catch(next);
  };
}
