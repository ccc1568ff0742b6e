/**
 * Rate limiting of SCIM requests: token buckets in memory, one per directory, sized from the
 * directory's `settings.rateLimit` (`burst` tokens, refilled at `requestsPerSecond`), one per
 * client address for the requests that fail authentication, and one per directory of milliseconds
 * of list searches (see {@link DEFAULT_SEARCH_TIME_BUDGET}), and one per directory of the changes
 * its writes make (see {@link DEFAULT_CHANGE_BUDGET}).
 * When the settings change the bucket is resized, keeping what was already spent. In memory means
 * per process: behind a load balancer with n processes a directory gets up to n times the rate.
 */

/** The rate of a bucket (the directory setting). */
export interface RateLimitConfig {
  requestsPerSecond: number;
  burst: number;
}

/**
 * The default share of the database a directory's list searches may take: 500 ms of search per
 * second (tokens are milliseconds), 30 s of it at once. On SQLite a search holds the whole server
 * (every directory's requests wait for it), so a directory that keeps sending filters no index
 * answers gets 429s once it has used its share, instead of holding the server every second. An
 * IdP's lookups take a millisecond or less; one paging through a large directory by index (deep
 * offsets cost more) may be slowed past the burst, never stopped.
 */
export const DEFAULT_SEARCH_TIME_BUDGET: RateLimitConfig = { requestsPerSecond: 500, burst: 30_000 };

/**
 * The default rate of changes a directory's SCIM writes may make (events written: a user
 * created, a member added or removed, a user's roles changed...): 5,000 a second, 100,000 at once.
 * One request may make thousands (a PATCH adding 5,000 members to a mapped group makes 10,000),
 * and on SQLite, whose writes run one at a time on the server's thread, a directory sending such
 * requests over and over held every other directory's requests for seconds; past its rate it gets
 * 429s instead. An IdP's provisioning, a large directory's initial sync included, makes far fewer
 * a second; the push of a group of 50,000 members fits in the burst.
 */
export const DEFAULT_CHANGE_BUDGET: RateLimitConfig = { requestsPerSecond: 5_000, burst: 100_000 };

/**
 * What a large answer weighs against its client's rate limit: a request counts as one, and its
 * answer one more for each whole {@link ANSWER_BYTES_PER_REQUEST} it holds, taken after it is
 * answered (a debt that the next requests wait out). A page of 100 users (about 60 KB) counts as
 * one request, a page of 1,000 as ten. Building and writing an answer costs the server's thread
 * in proportion to its size: counted as one request, a 1,000-user page cost ten times an IdP's
 * request, and one directory paging through its users within its rate took the thread from every
 * other directory.
 */
export const ANSWER_BYTES_PER_REQUEST = 64 * 1024;

/**
 * The requests an answer counts for beyond its own (see {@link ANSWER_BYTES_PER_REQUEST}), by the
 * size its `Content-Length` declares (scim-hono and the admin API declare it for large answers):
 * 0 for an error answer or one of undeclared size.
 */
export function answerSurcharge(response: Response): number {
  const length = response.status < 400 ? response.headers.get("content-length") : null;
  const bytes = length === null ? NaN : Number(length);
  return Number.isFinite(bytes) && bytes > 0 ? Math.floor(bytes / ANSWER_BYTES_PER_REQUEST) : 0;
}

/**
 * The default rate of failed authentications per client address, for SCIM tokens and the admin
 * key alike: past it, requests with a wrong credential get a 429 before any credential work.
 */
export const DEFAULT_AUTH_FAILURE_LIMIT: RateLimitConfig = { requestsPerSecond: 10, burst: 100 };

export type RateLimitDecision = { allowed: true; remaining: number } | { allowed: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
  config: RateLimitConfig;
}

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** The clock in milliseconds, for tests. @default Date.now */
  now?: () => number;
  /** Most buckets kept; the least recently used is dropped past it (it starts full again). @default 10000 */
  maxBuckets?: number;
}

/** Token buckets by key (a directory id, or a client address for failed authentications). */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** The limiter's clock, in milliseconds (`Date.now` unless given). */
  readonly now: () => number;
  private readonly maxBuckets: number;

  constructor(options: RateLimiterOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxBuckets = options.maxBuckets ?? 10_000;
  }

  /** Takes one token from the key's bucket: allowed, or refused with the seconds until one is back. */
  take(key: string, config: RateLimitConfig): RateLimitDecision {
    const bucket = this.refilled(key, config);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, remaining: Math.floor(bucket.tokens) };
    }
    return refusal(bucket);
  }

  /**
   * Whether the key's bucket holds anything, without taking from it: for a bucket that
   * {@link spend} draws on after the fact (a bucket of time).
   */
  check(key: string, config: RateLimitConfig): RateLimitDecision {
    const bucket = this.refilled(key, config);
    if (bucket.tokens > 0) return { allowed: true, remaining: Math.floor(bucket.tokens) };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(-bucket.tokens / config.requestsPerSecond)) };
  }

  /** Takes `amount` from the key's bucket, below zero if need be (at most one burst below): a debt that later requests wait out. */
  spend(key: string, config: RateLimitConfig, amount: number): void {
    const bucket = this.refilled(key, config);
    bucket.tokens = Math.max(-config.burst, bucket.tokens - amount);
  }

  /** Gives back a token taken for a request that turned out not to count (never above the burst). */
  refund(key: string, config: RateLimitConfig): void {
    const bucket = this.refilled(key, config);
    bucket.tokens = Math.min(config.burst, bucket.tokens + 1);
  }

  /** The key's bucket, refilled for the time elapsed (and made the most recently used). */
  private refilled(key: string, config: RateLimitConfig): Bucket {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: config.burst, updatedAt: now, config };
      if (this.buckets.size >= this.maxBuckets) this.buckets.delete(this.buckets.keys().next().value!);
    } else {
      this.buckets.delete(key); // re-inserted below: the map's order is least recently used first
      if (bucket.config.burst !== config.burst || bucket.config.requestsPerSecond !== config.requestsPerSecond) {
        bucket.config = config;
        bucket.tokens = Math.min(bucket.tokens, config.burst);
      }
      const elapsed = Math.max(0, now - bucket.updatedAt) / 1000;
      bucket.tokens = Math.min(config.burst, bucket.tokens + elapsed * config.requestsPerSecond);
      bucket.updatedAt = now;
    }
    this.buckets.set(key, bucket);
    return bucket;
  }

  /** Forgets a key's bucket (a deleted directory). */
  reset(key: string): void {
    this.buckets.delete(key);
  }
}

/** A refusal: the seconds until the bucket holds a whole token again. */
function refusal(bucket: Bucket): RateLimitDecision {
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / bucket.config.requestsPerSecond)) };
}

/** "retry after 1 second", "retry after 5 seconds": the words of a 429's message. */
export function retryAfterText(seconds: number): string {
  return `retry after ${seconds} ${seconds === 1 ? "second" : "seconds"}`;
}
