/**
 * Schema definition types (RFC 7643 §2, §7).
 */

/** Attribute data types (RFC 7643 §2.3). */
export type AttributeType =
  | "string"
  | "boolean"
  | "decimal"
  | "integer"
  | "dateTime"
  | "binary"
  | "reference"
  | "complex";

/** Attribute mutability (RFC 7643 §7). @default "readWrite" */
export type Mutability = "readOnly" | "readWrite" | "immutable" | "writeOnly";

/** When an attribute is returned (RFC 7643 §7). @default "default" */
export type Returned = "always" | "never" | "default" | "request";

/** Uniqueness (RFC 7643 §7). @default "none" */
export type Uniqueness = "none" | "server" | "global";

/**
 * One attribute of a schema, with every characteristic of RFC 7643 §2.2 and §7.
 * This is exactly the shape served by `/Schemas` (RFC 7643 §7).
 */
export interface AttributeDefinition {
  name: string;
  type: AttributeType;
  multiValued: boolean;
  description?: string;
  required: boolean;
  /** String comparison is case-sensitive. RFC 7643 §2.2 default: false. */
  caseExact?: boolean;
  canonicalValues?: readonly string[];
  mutability: Mutability;
  returned: Returned;
  uniqueness?: Uniqueness;
  /** For `reference` attributes: "User", "Group", "external", "uri", or a resource type name. */
  referenceTypes?: readonly string[];
  /** For `complex` attributes. Sub-attributes are never complex (RFC 7643 §2.3.8). */
  subAttributes?: readonly AttributeDefinition[];
}

/** A schema (RFC 7643 §7): a URN id and its attributes. */
export interface SchemaDefinition {
  /** The schema URN, e.g. `urn:ietf:params:scim:schemas:core:2.0:User`. */
  id: string;
  name?: string;
  description?: string;
  attributes: readonly AttributeDefinition[];
}

/** An extension of a resource type (RFC 7643 §6). */
export interface SchemaExtension {
  schema: string;
  required: boolean;
}

/** A resource type (RFC 7643 §6), e.g. User at `/Users` with the EnterpriseUser extension. */
export interface ResourceTypeDefinition {
  /** Defaults to `name`. */
  id?: string;
  name: string;
  /** Endpoint relative to the SCIM root, e.g. `/Users`. */
  endpoint: string;
  description?: string;
  /** URN of the core schema. */
  schema: string;
  schemaExtensions?: readonly SchemaExtension[];
}
