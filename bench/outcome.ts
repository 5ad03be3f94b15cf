/** What one run of one scenario against one broker produced. */

/** Delivery faults of a run; all zero and no errors for a correct broker. */
export interface Integrity {
  lost: number
  duplicated: number
  outOfOrder: number
  unexpected: number
  unacked: number
  errors: string[]
}

export type RunOutcome =
  | { ok: true, figures: Record<string, number>, integrity: Integrity, generatorBusy: number | null }
  | { ok: false, failure: string }

/** At or above this share of its core the generator may have limited the figures. */
export const GENERATOR_BUSY_LIMIT = 0.9

export const CLEAN: Integrity = { lost: 0, duplicated: 0, outOfOrder: 0, unexpected: 0, unacked: 0, errors: [] }

/** A thrown error as one line for the failure list. */
export function describeFailure (err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}
