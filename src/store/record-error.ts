/** A record in the store whose bytes cannot be read (`meshmq ctl store check` reports it). */
export class RecordError extends Error {
  override name = 'RecordError'
}
