/**
 * An EventTarget whose event names and `detail` payloads are checked by the compiler, the way
 * js-libp2p services expose their events. Listeners must not throw: Node rethrows a listener's
 * exception as an uncaught error.
 */
export type EventListenerOf<Detail> = (event: CustomEvent<Detail>) => void

type AnyListener = Parameters<EventTarget['addEventListener']>[1]

export class TypedEventTarget<EventMap extends object> {
  private readonly target = new EventTarget()

  addEventListener<K extends keyof EventMap & string> (type: K, listener: EventListenerOf<EventMap[K]>, options?: { once?: boolean, signal?: AbortSignal }): void {
    this.target.addEventListener(type, listener as unknown as AnyListener, options)
  }

  removeEventListener<K extends keyof EventMap & string> (type: K, listener: EventListenerOf<EventMap[K]>): void {
    this.target.removeEventListener(type, listener as unknown as AnyListener)
  }

  protected emit<K extends keyof EventMap & string> (type: K, detail: EventMap[K]): void {
    this.target.dispatchEvent(new CustomEvent(type, { detail }))
  }
}
