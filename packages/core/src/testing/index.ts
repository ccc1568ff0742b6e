/**
 * scim-core/testing: conformance suites that every store (and, later, every adapter) must pass.
 * Requires vitest (a peer dependency of this entry).
 * @packageDocumentation
 */
export { runStoreConformance, type StoreSuiteOptions } from "./store-suite.js";
export { runHttpConformance, type HttpSuiteOptions, type HttpSuiteTarget } from "./http-suite.js";
export { chunkedPostThenGet, countedStream, declaredOversizePost, endlessChunkedPost, oversizedHeadRequest, rawConnection, writeChunked } from "./raw-connection.js";
