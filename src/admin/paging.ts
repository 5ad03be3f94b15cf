/** Paging of the cluster-wide lists (HTTP API and `meshmq ctl`): `page` from 1, `limit` rows a page. */
import { PageTooDeepError } from './errors.js'

export const MAX_PAGE_LIMIT = 1000
/** The deepest row a paged list reaches (`page * limit`): each node sorts up to that many ids per request. */
export const MAX_PAGE_DEPTH = 100_000
/** The most retained messages one page lists (payloads can be large). */
export const MAX_RETAINED_PAGE = 100
/** Rows a page has when no limit is given. */
export const DEFAULT_PAGE_LIMIT = 100

/** The offset of the first row of `page`; PageTooDeepError past `MAX_PAGE_DEPTH`. */
export function pageOffset (page: number, limit: number): number {
  const offset = (page - 1) * limit
  if (offset + limit > MAX_PAGE_DEPTH) throw new PageTooDeepError(MAX_PAGE_DEPTH)
  return offset
}
