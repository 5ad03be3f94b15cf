/** Errors the API's routes throw, each mapped to its HTTP status by the server's error handler. */

/** 404: the client, topic or node named does not exist. */
export class NotFoundError extends Error {
  override name = 'NotFoundError'
}

/** 400: the request is well-formed JSON but says something the broker refuses (a bad topic). */
export class BadRequestError extends Error {
  override name = 'BadRequestError'
}

/** 400: a page past `MAX_PAGE_DEPTH`. */
export class PageTooDeepError extends BadRequestError {
  constructor (depth: number) { super(`page * limit must be at most ${depth}: narrow the query with a filter`) }
}
