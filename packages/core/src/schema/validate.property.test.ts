import { describe, it, expect } from "vitest";
import fc from "fast-check";
import { isScimError } from "../errors/scim-error.js";
import { projectResource } from "../list/project.js";
import { ENTERPRISE_USER_SCHEMA_ID, GROUP_SCHEMA_ID, USER_SCHEMA_ID } from "./core-schemas.js";
import { createSchemaRegistry, type AttributeInfo, type CompiledResourceType } from "./registry.js";
import type { SchemaDefinition } from "./types.js";
import { validateResource } from "./validate.js";

type Obj = Record<string, unknown>;

const ENT = ENTERPRISE_USER_SCHEMA_ID;
const ACME = "urn:example:scim:schemas:extension:acme:2.0:User";

// A custom extension with every simple type, so that coercion of integers, decimals, dateTimes and
// binaries is exercised too, plus a secret of its own.
const acme: SchemaDefinition = {
  id: ACME,
  attributes: [
    { name: "level", type: "integer", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
    { name: "score", type: "decimal", multiValued: false, required: false, mutability: "readWrite", returned: "default" },
    { name: "since", type: "dateTime", multiValued: false, required: false, mutability: "immutable", returned: "default" },
    { name: "avatar", type: "binary", multiValued: false, required: false, mutability: "readWrite", returned: "request" },
    { name: "pin", type: "string", multiValued: false, required: false, mutability: "writeOnly", returned: "never" },
    { name: "tags", type: "string", multiValued: true, required: false, mutability: "readWrite", returned: "default" },
  ],
};
const registry = createSchemaRegistry({ schemas: [acme] }).addExtension("User", { schema: ACME, required: false });
const USER = registry.getResourceType("User");
const GROUP = registry.getResourceType("Group");
/** Resource types by name, so that counterexamples print a name rather than a compiled schema. */
const rtArb = fc.constantFrom("User", "Group");

/** Every name a resource might use: attributes, sub-attributes, dotted and URN-qualified paths. */
function namesOf(rt: CompiledResourceType): string[] {
  const names = new Set<string>();
  for (const schema of [rt.core, ...rt.extensions]) {
    names.add(schema.id);
    for (const a of schema.attributes) {
      names.add(a.name);
      names.add(`${schema.id}:${a.name}`);
      for (const s of a.subs) {
        names.add(s.name);
        names.add(`${a.name}.${s.name}`);
        names.add(`${schema.id}:${a.name}.${s.name}`);
      }
    }
  }
  return [...names];
}

const OTHER_KEYS = [
  "schemas",
  "__proto__",
  "constructor",
  "prototype",
  "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User",
  "urn:scim:schemas:core:1.0",
  "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
  `${ENT}.manager`,
  "unknownAttribute",
  "emails[type eq \"work\"].value",
  "",
  "$ref",
  "name..givenName",
];
const KEYS = [...new Set([...namesOf(USER), ...namesOf(GROUP), ...OTHER_KEYS])];

/** A pool key in random casing (attribute names are case-insensitive). */
const keyArb = fc.oneof({ weight: 6, arbitrary: fc.mixedCase(fc.constantFrom(...KEYS)) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) });

/** Builds an object whose keys are own data properties, as JSON.parse makes them (even `__proto__`). */
function ownObject(entries: Array<[string, unknown]>): Obj {
  const o: Obj = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

const scalarArb = fc.oneof(
  fc.jsonValue({ maxDepth: 1 }),
  fc.constantFrom("", "True", "false", "FALSE", "42", "-7", "1.5", "1e400", "2011-05-13T04:42:34Z", "2011-02-30T00:00:00Z", "AAEC/w==", "not base64!", "bulkId:x", "__proto__"),
  fc.constantFrom(null, true, false, 0, -1, 3.5, Number.MAX_SAFE_INTEGER),
  fc.string({ maxLength: 6 }),
);

const { value: valueArb } = fc.letrec<{ value: unknown; object: Obj; array: unknown[] }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, scalarArb, tie("object"), tie("array")),
  object: fc.array(fc.tuple(keyArb, tie("value")), { maxLength: 5 }).map(ownObject),
  array: fc.array(tie("value"), { maxLength: 4 }),
}));

/** A value of roughly the right type for `attr`, including the tolerated spellings ("True", "42", a bare id). */
function plausibleValue(attr: AttributeInfo): fc.Arbitrary<unknown> {
  const single = (a: AttributeInfo): fc.Arbitrary<unknown> => {
    switch (a.type) {
      case "complex":
        return fc.oneof(
          { weight: 4, arbitrary: fc.array(fc.tuple(fc.mixedCase(fc.constantFrom(...a.subs.map((s) => s.name))), fc.constant(0)), { maxLength: 4 }).chain((keys) =>
            fc.tuple(...keys.map(([k]) => fc.tuple(fc.constant(k), single(a.subMap!.get(k.toLowerCase())!)))).map((entries) => ownObject(entries as Array<[string, unknown]>)),
          ) },
          { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
        );
      case "boolean":
        return fc.constantFrom(true, false, "True", "false", "FALSE", null);
      case "integer":
        return fc.oneof(fc.integer(), fc.integer().map(String));
      case "decimal":
        return fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom("1.5", "-2e3", ".5", "1e400"));
      case "dateTime":
        return fc.constantFrom("2011-05-13T04:42:34Z", "2010-01-23T04:56:22.123+02:00", "");
      case "binary":
        return fc.constantFrom("AAEC/w==", "MIIDQzCC", "");
      default:
        return fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("", null, 7));
    }
  };
  return attr.multiValued ? fc.oneof({ weight: 4, arbitrary: fc.array(single(attr), { maxLength: 3 }) }, { weight: 1, arbitrary: single(attr) }) : single(attr);
}

/** Entries naming a real attribute (plain, or URN-keyed for extensions) with a plausible value. */
function plausibleEntryArb(rt: CompiledResourceType): fc.Arbitrary<[string, unknown]> {
  const entries: Array<fc.Arbitrary<[string, unknown]>> = [];
  for (const a of rt.core.attributes) {
    entries.push(fc.tuple(fc.mixedCase(fc.constant(a.name)), plausibleValue(a)));
    // Dotted keys ("name.givenName"), which Entra uses in path-less PATCH values.
    for (const sub of a.subs) entries.push(fc.tuple(fc.mixedCase(fc.constant(`${a.name}.${sub.name}`)), plausibleValue(sub)));
  }
  for (const ext of rt.extensions) {
    const inner = fc.array(fc.constantFrom(...ext.attributes), { maxLength: 4 }).chain((attrs) =>
      fc.tuple(...attrs.map((a) => fc.tuple(fc.mixedCase(fc.constant(a.name)), plausibleValue(a)))).map((es) => ownObject(es as Array<[string, unknown]>)),
    );
    entries.push(fc.tuple(fc.mixedCase(fc.constant(ext.id)), inner));
    for (const a of ext.attributes) entries.push(fc.tuple(fc.constant(`${ext.id}:${a.name}`), plausibleValue(a)));
  }
  return fc.oneof(...entries);
}
const plausibleArb = fc.oneof(plausibleEntryArb(USER), plausibleEntryArb(GROUP));

/** A resource body: an object with pool keys, sometimes with a userName/displayName so that it can pass. */
const bodyArb = fc
  .tuple(
    fc.array(fc.oneof({ weight: 3, arbitrary: plausibleArb }, { weight: 1, arbitrary: fc.tuple(keyArb, valueArb) }), { maxLength: 10 }),
    fc.option(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("bjensen", "Tour Guides")), { nil: undefined }),
  )
  .map(([entries, name]) => (name === undefined ? ownObject(entries) : ownObject([["userName", name], ["displayName", name], ...entries])));

const anyInputArb = fc.oneof({ weight: 4, arbitrary: bodyArb }, { weight: 1, arbitrary: fc.jsonValue() }, { weight: 1, arbitrary: fc.object() });

const isPlainObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** Asserts that `value` has the shape and type `attr` declares, in canonical form. */
function checkValue(attr: AttributeInfo, value: unknown, where: string): void {
  if (attr.multiValued) {
    if (!Array.isArray(value) || value.length === 0) throw new Error(`${where}: multi-valued attribute is not a non-empty array`);
    for (const el of value) checkSingle(attr, el, where);
    if (attr.type === "complex" && value.filter((el) => (el as Obj).primary === true).length > 1) throw new Error(`${where}: two primaries`);
    return;
  }
  checkSingle(attr, value, where);
}

function checkSingle(attr: AttributeInfo, value: unknown, where: string): void {
  switch (attr.type) {
    case "complex": {
      if (!isPlainObject(value) || Object.keys(value).length === 0) throw new Error(`${where}: complex value is not a non-empty object`);
      for (const k of Object.keys(value)) {
        const sub = attr.subMap!.get(k.toLowerCase());
        if (sub === undefined || sub.name !== k) throw new Error(`${where}.${k}: not a declared sub-attribute`);
        if (sub.mutability === "readOnly") throw new Error(`${where}.${k}: readOnly sub-attribute came through`);
        checkSingle(sub, value[k], `${where}.${k}`);
      }
      return;
    }
    case "boolean":
      if (typeof value !== "boolean") throw new Error(`${where}: not a boolean`);
      return;
    case "integer":
      if (!Number.isInteger(value)) throw new Error(`${where}: not an integer`);
      return;
    case "decimal":
      if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`${where}: not a finite number`);
      return;
    default:
      if (typeof value !== "string" || value === "") throw new Error(`${where}: not a non-empty string`);
  }
}

/** Asserts that a validated resource holds only what `rt` defines, in declared casing and canonical form. */
function checkResource(rt: CompiledResourceType, out: Obj): void {
  if (!isPlainObject(out)) throw new Error("result is not a plain object");
  const schemas = out.schemas as string[];
  expect(schemas[0]).toBe(rt.core.id);
  expect(new Set(schemas).size).toBe(schemas.length);
  for (const urn of schemas.slice(1)) expect(rt.extensions.some((e) => e.id === urn)).toBe(true);
  for (const key of Object.keys(out)) {
    if (key === "schemas") continue;
    const ext = rt.extensions.find((e) => e.id === key);
    if (ext !== undefined) {
      expect(schemas).toContain(key);
      const data = out[key];
      if (!isPlainObject(data) || Object.keys(data).length === 0) throw new Error(`${key}: extension is not a non-empty object`);
      for (const k of Object.keys(data)) {
        const attr = ext.byName.get(k.toLowerCase());
        if (attr === undefined || attr.name !== k) throw new Error(`${key}:${k} is not an attribute of the extension`);
        expect(attr.mutability).not.toBe("readOnly");
        checkValue(attr, data[k], `${key}:${k}`);
      }
      continue;
    }
    const attr = rt.core.byName.get(key.toLowerCase());
    if (attr === undefined || attr.name !== key) throw new Error(`'${key}' is not an attribute of ${rt.name}`);
    expect(attr.mutability).not.toBe("readOnly");
    checkValue(attr, out[key], key);
  }
  for (const attr of rt.core.attributes) if (attr.required && attr.mutability !== "readOnly") expect(out[attr.name]).toBeDefined();
  // Canonical output is plain JSON: it survives a round trip unchanged.
  expect(JSON.parse(JSON.stringify(out))).toStrictEqual(out);
}

/** Runs validation; returns the result or undefined after checking that the failure is a proper 400. */
function validateOr400(rt: CompiledResourceType, input: unknown, strict: boolean, existing?: Obj): Obj | undefined {
  try {
    return validateResource(input, { resourceType: rt, registry, strict, existing });
  } catch (e) {
    if (!isScimError(e)) throw e;
    expect(e.status).toBe(400);
    expect(["invalidSyntax", "invalidValue", "mutability"]).toContain(e.scimType);
    expect(typeof e.detail).toBe("string");
    return undefined;
  }
}

/** True when a key `__proto__`, `constructor` or `prototype` (any casing) appears anywhere in `value`. */
function hasForbiddenKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasForbiddenKey);
  if (typeof value !== "object" || value === null) return false;
  return Object.keys(value).some((k) => ["__proto__", "constructor", "prototype"].includes(k.toLowerCase()) || hasForbiddenKey((value as Obj)[k]));
}

const prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort();
function checkPrototypeUntouched(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames);
  expect(Object.getPrototypeOf({})).toBe(Object.prototype);
}

const attributeListArb = fc.option(
  fc.array(fc.oneof(fc.mixedCase(fc.constantFrom(...KEYS, "password", `${USER_SCHEMA_ID}:password`, `${ACME}:pin`)), fc.string({ maxLength: 5 })), { maxLength: 4 }),
  { nil: undefined },
);

describe("validateResource on arbitrary input (property)", () => {
  it("throws nothing but a 400 ScimError and returns only what the schema defines, canonically", () => {
    fc.assert(
      fc.property(anyInputArb, fc.boolean(), rtArb, (input, strict, rtName) => {
        const rt = registry.getResourceType(rtName);
        const snapshot = JSON.stringify(input);
        const out = validateOr400(rt, input, strict);
        if (out !== undefined) checkResource(rt, out);
        // A prototype key anywhere in an object body makes it a 400 invalidSyntax, whatever else is wrong.
        if (isPlainObject(input) && hasForbiddenKey(input)) {
          expect(out).toBeUndefined();
          let scimType: unknown;
          try {
            validateResource(input, { resourceType: rt, registry, strict });
          } catch (e) {
            scimType = isScimError(e) ? e.scimType : e;
          }
          expect(scimType).toBe("invalidSyntax");
        }
        expect(JSON.stringify(input)).toBe(snapshot); // the input is never modified
        checkPrototypeUntouched();
      }),
      { numRuns: 1500 },
    );
  });

  it("validating a validated resource again gives the same resource (idempotent)", () => {
    fc.assert(
      fc.property(bodyArb, rtArb, (input, rtName) => {
        const rt = registry.getResourceType(rtName);
        const once = validateOr400(rt, input, false);
        if (once === undefined) return;
        expect(validateResource(structuredClone(once), { resourceType: rt, registry, strict: true })).toStrictEqual(once);
      }),
      { numRuns: 800 },
    );
  });

  it("with a stored resource (PUT), stored immutable values are kept or the result is 400 mutability", () => {
    const existing = { schemas: [USER_SCHEMA_ID, ACME], id: "1", userName: "stored", [ACME]: { since: "2011-05-13T04:42:34Z" } };
    fc.assert(
      fc.property(bodyArb, fc.boolean(), (input, strict) => {
        const out = validateOr400(USER, input, strict, existing);
        if (out === undefined) return;
        checkResource(USER, out);
        expect((out[ACME] as Obj | undefined)?.since).toBe("2011-05-13T04:42:34Z");
      }),
      { numRuns: 500 },
    );
  });

  it("`name` and dotted `name.*` keys combine in order, as a simple model says", () => {
    const subs = ["formatted", "familyName", "givenName"];
    const valueArb = fc.constantFrom("A", "B", "", null);
    const entryArb = fc.oneof(
      fc.tuple(fc.constant("name"), fc.dictionary(fc.constantFrom(...subs), valueArb, { maxKeys: 3 })),
      fc.tuple(fc.constantFrom(...subs).map((sub) => `name.${sub}`), valueArb),
    );
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 5 }), fc.boolean(), (entries, shout) => {
        // Later keys win; each key appears once in an object, so keep the last of each.
        const last = new Map<string, unknown>();
        for (const [k, v] of entries) {
          last.delete(k);
          last.set(k, v);
        }
        const input = ownObject([["userName", "u"], ...[...last].map(([k, v]): [string, unknown] => [shout ? k.toUpperCase() : k, v])]);
        let model: Obj = {};
        for (const [k, v] of last) {
          if (k === "name") {
            model = {};
            for (const [sk, sv] of Object.entries(v as Obj)) if (typeof sv === "string" && sv !== "") model[sk] = sv;
          } else {
            const sub = k.slice(5);
            if (typeof v === "string" && v !== "") model[sub] = v;
            else delete model[sub];
          }
        }
        const out = validateResource(input, { resourceType: "User" });
        if (Object.keys(model).length === 0) expect(out).not.toHaveProperty("name");
        else expect(out.name).toStrictEqual(model);
      }),
      { numRuns: 500 },
    );
  });

  it("projectResource never returns password or other never-returned attributes, whatever is asked for", () => {
    fc.assert(
      fc.property(bodyArb, attributeListArb, attributeListArb, (input, attributes, excludedAttributes) => {
        const stored = validateOr400(USER, ({ ...input, password: "s3cr3t-pw", [ACME]: { pin: "s3cr3t-pin", ...(isPlainObject(input[ACME]) ? input[ACME] : {}) } }), false);
        if (stored === undefined) return;
        expect(stored.password).toBe("s3cr3t-pw"); // kept for the application to store
        let projected: Obj;
        try {
          projected = projectResource({ ...stored, id: "id-1", meta: { resourceType: "User" } }, { resourceType: USER, registry, attributes, excludedAttributes });
        } catch (e) {
          // Only a malformed attribute name may fail, as a 400 invalidSyntax.
          if (!isScimError(e)) throw e;
          expect([e.status, e.scimType]).toEqual([400, "invalidSyntax"]);
          return;
        }
        const text = JSON.stringify(projected);
        expect(text).not.toContain("s3cr3t");
        expect(Object.keys(projected).some((k) => k.toLowerCase() === "password")).toBe(false);
        expect(projected.id).toBe("id-1");
        // schemas as stored, less the extensions whose attributes were all left out (RFC 7643 §3).
        expect(projected.schemas).toEqual((stored.schemas as string[]).filter((uri) => !(uri in stored) || uri in projected));
      }),
      { numRuns: 800 },
    );
  });
});
