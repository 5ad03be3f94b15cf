/**
 * The delivery of a message to one subscriber, from the subscriptions of that subscriber that
 * match it. A client whose (non-shared) subscriptions overlap gets one copy of the message, at the
 * highest QoS any of them grants [MQTT-3.3.4-2 v5, MQTT-3.3.5-1 v3.1.1], carrying the subscription
 * identifier of every matching subscription that has one [MQTT-3.3.4-3, MQTT-3.3.4-4]. A shared
 * subscription delivers its own copy to the group member it picks (MQTT 5 §4.8.2).
 */
import type { Message } from '../mqtt/message.js'
import type { Delivery, SubscriptionOptions } from './session-state.js'

/** The delivery of `message` under one subscription's options. */
export function deliveryFor (message: Message, options: SubscriptionOptions): Delivery {
  const delivery: Delivery = {
    message,
    qos: options.qos < message.qos ? options.qos : message.qos,
    // RETAIN is cleared on normal delivery unless Retain As Published [MQTT-3.3.1-12, MQTT-3.3.1-13].
    retain: options.retainAsPublished && message.retain
  }
  if (options.subscriptionId !== undefined) delivery.subscriptionIds = [options.subscriptionId]
  return delivery
}

/**
 * Adds another matching subscription of the same subscriber to `delivery` (made by `deliveryFor`
 * for the same message): the higher QoS wins, RETAIN is kept if any subscription keeps it, and
 * the subscription's identifier joins the others (repeated if two subscriptions share it).
 */
export function addMatchingSubscription (delivery: Delivery, options: SubscriptionOptions): void {
  const { message } = delivery
  const qos = options.qos < message.qos ? options.qos : message.qos
  if (qos > delivery.qos) delivery.qos = qos
  if (options.retainAsPublished && message.retain) delivery.retain = true
  if (options.subscriptionId !== undefined) (delivery.subscriptionIds ??= []).push(options.subscriptionId)
}
