/**
 * Typed actor references. nact declares `Ref<T>` as an empty abstract class, so to the compiler
 * every ref is every other ref and `dispatch(ref, msg)` checks nothing. This augmentation gives
 * `Ref<T>` a phantom member that takes the actor's messages: a ref accepts only its actor's
 * messages, and one actor's ref cannot stand for another's. Being a parameter type, the member is
 * contravariant (a ref consumes messages): a ref whose actor accepts more may be passed where fewer
 * are sent, never the reverse. It exists for the compiler only; no ref carries it at run time.
 */
import 'nact'

declare const acceptsMessage: unique symbol

/**
 * The message type as the phantom sees it. The mapped type makes the compiler compare two refs by
 * their members rather than by the variance it measures for `T`, which would reject the system ref
 * (`Ref<never>`) where nact's signatures ask for a `Ref<any>`.
 */
type Accepted<T> = { -readonly [K in keyof T]: T[K] }

declare module 'nact' {
  interface Ref<T> {
    /**
     * Phantom: a function of the messages this ref's actor accepts. The system ref, which takes
     * none, gets one of `unknown` so that it satisfies nact's `Ref<any>` parent constraint.
     */
    readonly [acceptsMessage]: [T] extends [never] ? (message: unknown) => void : (message: Accepted<T>) => void
  }
}
