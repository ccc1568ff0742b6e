import fc from "fast-check";

// Property tests explore new inputs on every local run; under CI they replay one fixed seed so
// that a landing never depends on luck. Override with FC_SEED to reproduce a local failure.
const seed = process.env.FC_SEED ?? (process.env.CI ? "20261125" : undefined);
if (seed !== undefined) fc.configureGlobal({ seed: Number(seed) });
