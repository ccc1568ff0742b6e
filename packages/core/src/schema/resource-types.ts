/**
 * TypeScript types for SCIM resources (RFC 7643 §3, §4), generic over
 * schema extensions.
 */

/** Resource metadata, the `meta` common attribute (RFC 7643 §3.1). */
export interface Meta {
  /** Name of the resource type, e.g. "User". */
  resourceType?: string;
  /** DateTime the resource was added to the service provider. */
  created?: string;
  /** DateTime the resource was last modified. */
  lastModified?: string;
  /** URI of the resource. */
  location?: string;
  /** Version (ETag) of the resource. */
  version?: string;
}

/** Base shape of every SCIM resource: `schemas` plus the common attributes (RFC 7643 §3, §3.1). */
export interface ScimResource {
  schemas: string[];
  id?: string;
  externalId?: string;
  meta?: Meta;
}

/** Components of a User's real name, the `name` attribute (RFC 7643 §4.1.1). */
export interface Name {
  formatted?: string;
  familyName?: string;
  givenName?: string;
  middleName?: string;
  honorificPrefix?: string;
  honorificSuffix?: string;
}

/** An element of `User.emails` (RFC 7643 §4.1.2). Canonical types: "work", "home", "other". */
export interface Email {
  value?: string;
  display?: string;
  type?: string;
  primary?: boolean;
}

/** An element of `User.phoneNumbers` (RFC 7643 §4.1.2). Canonical types: "work", "home", "mobile", "fax", "pager", "other". */
export interface PhoneNumber {
  value?: string;
  display?: string;
  type?: string;
  primary?: boolean;
}

/** An element of `User.ims` (RFC 7643 §4.1.2). Canonical types: "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo". */
export interface Im {
  value?: string;
  display?: string;
  type?: string;
  primary?: boolean;
}

/** An element of `User.photos` (RFC 7643 §4.1.2); `value` is a URL. Canonical types: "photo", "thumbnail". */
export interface Photo {
  value?: string;
  display?: string;
  type?: string;
  primary?: boolean;
}

/** An element of `User.addresses` (RFC 7643 §4.1.2). Canonical types: "work", "home", "other". */
export interface Address {
  formatted?: string;
  streetAddress?: string;
  locality?: string;
  region?: string;
  postalCode?: string;
  country?: string;
  type?: string;
  primary?: boolean;
}

/** An element of `User.entitlements` (RFC 7643 §4.1.2). */
export interface Entitlement {
  value?: string;
  display?: string;
  type?: string;
  primary?: boolean;
}

/** An element of `User.roles` (RFC 7643 §4.1.2). */
export interface Role {
  value?: string;
  display?: string;
  type?: string;
  primary?: boolean;
}

/** An element of `User.x509Certificates` (RFC 7643 §4.1.2); `value` is base64-encoded DER. */
export interface X509Certificate {
  value?: string;
  display?: string;
  type?: string;
  primary?: boolean;
}

/** An element of the read-only `User.groups` (RFC 7643 §4.1.2). Canonical types: "direct", "indirect". */
export interface UserGroupRef {
  value?: string;
  $ref?: string;
  display?: string;
  type?: string;
}

/** An element of `Group.members` (RFC 7643 §4.2). */
export interface GroupMember {
  value: string;
  $ref?: string;
  display?: string;
  type?: "User" | "Group";
}

/** The Enterprise User extension (RFC 7643 §4.3). */
export interface EnterpriseUser {
  employeeNumber?: string;
  costCenter?: string;
  organization?: string;
  division?: string;
  department?: string;
  manager?: {
    /** `id` of the manager's User resource. */
    value?: string;
    /** URI of the manager's User resource. */
    $ref?: string;
    /** Manager's display name (read-only). */
    displayName?: string;
  };
}

/**
 * The Enterprise User extension keyed by its schema URN (RFC 7643 §4.3), for
 * use as `User<EnterpriseUserExtension>`.
 */
export type EnterpriseUserExtension = {
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": EnterpriseUser;
};

/**
 * A User resource (RFC 7643 §4.1), optionally with extensions keyed by schema URN
 * (RFC 7643 §3.3), e.g. `User<EnterpriseUserExtension>`.
 */
export type User<Ext extends Record<string, object> = {}> = ScimResource & {
  userName: string;
  name?: Name;
  displayName?: string;
  nickName?: string;
  profileUrl?: string;
  title?: string;
  userType?: string;
  preferredLanguage?: string;
  locale?: string;
  timezone?: string;
  active?: boolean;
  /** Write-only; never returned (RFC 7643 §4.1.1). */
  password?: string;
  emails?: Email[];
  phoneNumbers?: PhoneNumber[];
  ims?: Im[];
  photos?: Photo[];
  addresses?: Address[];
  /** Read-only (RFC 7643 §4.1.2). */
  groups?: UserGroupRef[];
  entitlements?: Entitlement[];
  roles?: Role[];
  x509Certificates?: X509Certificate[];
} & Partial<Ext>;

/**
 * A Group resource (RFC 7643 §4.2), optionally with extensions keyed by schema URN
 * (RFC 7643 §3.3).
 */
export type Group<Ext extends Record<string, object> = {}> = ScimResource & {
  displayName: string;
  members?: GroupMember[];
} & Partial<Ext>;
