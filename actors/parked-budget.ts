/** The node's delivery budget as the queue functions of offline sessions use it: their bytes parked. */
import type { DeliveryBudget } from '../src/core/session/delivery-budget.js'
import type { QueueBudget } from '../src/core/session/queue.js'

/** One per node's budget. */
const parkedBudgets = new WeakMap<DeliveryBudget, QueueBudget>()

export function parkedBudgetOf (budget: DeliveryBudget): QueueBudget {
  let parked = parkedBudgets.get(budget)
  if (parked === undefined) {
    parked = {
      fits: bytes => budget.fits(bytes),
      hold: bytes => { budget.hold(bytes, true) },
      release: bytes => { budget.release(bytes, true) }
    }
    parkedBudgets.set(budget, parked)
  }
  return parked
}
