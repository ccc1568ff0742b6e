import { describe, expect, it } from "vitest";
import { directorySettingsSchema } from "./settings.js";

describe("directory settings", () => {
  it("fill every default", () => {
    expect(directorySettingsSchema.parse({})).toEqual({
      linkByEmail: false,
      deleteMode: "soft",
      tokenGracePeriodSeconds: 86_400,
      rateLimit: { requestsPerSecond: 100, burst: 200 },
      ipAllowlist: [],
      attributeMapping: {},
    });
  });

  it("keep custom attribute names as given", () => {
    const mapping = { costCenter: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", "office location": "addresses[type eq \"work\"].locality" };
    expect(directorySettingsSchema.parse({ attributeMapping: mapping }).attributeMapping).toEqual(mapping);
  });

  it.each(["__proto__", "constructor", "prototype"])("refuse the custom attribute name %s instead of dropping it", (name) => {
    // As the admin API receives it: JSON.parse makes `__proto__` an own key.
    const input = JSON.parse(`{"attributeMapping":{"${name}":"title","ok":"title"}}`);
    const result = directorySettingsSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path)).toEqual([["attributeMapping", name]]);
  });
});
