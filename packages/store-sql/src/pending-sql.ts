// TEMPORARY while filter-sql.ts is written: not committed.
export function filterToSql(..._args: unknown[]): never { throw new Error("filter push-down pending"); }
export function sortKeySql(..._args: unknown[]): never { throw new Error("sort push-down pending"); }
