/**
 * The page's calls to the node's HTTP API. When the node has a token (`http.token`) the page asks
 * for it once (the token form) and keeps it in sessionStorage for the tab; every call carries it
 * as `Authorization: Bearer`. A 401 clears it and shows the form again.
 */

const TOKEN_KEY = 'meshmq.apiToken'

/** The API answered with an error status. */
export class ApiError extends Error {
  override name = 'ApiError'
  constructor (readonly status: number, message: string) { super(message) }
}

export class Api {
  private token: string | null = sessionStorage.getItem(TOKEN_KEY)

  /** Called on a 401: the page shows its token form. */
  onUnauthorized: (message: string) => void = () => {}

  setToken (token: string): void {
    this.token = token === '' ? null : token
    if (this.token === null) sessionStorage.removeItem(TOKEN_KEY)
    else sessionStorage.setItem(TOKEN_KEY, this.token)
  }

  private headers (): Record<string, string> {
    return this.token === null ? {} : { authorization: `Bearer ${this.token}` }
  }

  /** A fetch of `path` with the token; a 401 or other error status throws ApiError. */
  async request (path: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(path, { ...init, headers: { ...this.headers(), ...init.headers as Record<string, string> | undefined } })
    if (response.ok) return response
    let message = `${response.status} ${response.statusText}`
    try {
      const body = await response.json() as { message?: unknown }
      if (typeof body.message === 'string') message = body.message
    } catch { /* not JSON: the status says it */ }
    if (response.status === 401) {
      this.setToken('')
      this.onUnauthorized(message)
    }
    throw new ApiError(response.status, message)
  }

  async get<T> (path: string, signal?: AbortSignal): Promise<T> {
    const response = await this.request(path, signal === undefined ? {} : { signal })
    return await response.json() as T
  }

  async remove (path: string): Promise<void> {
    await this.request(path, { method: 'DELETE' })
  }
}
