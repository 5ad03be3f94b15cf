/** Failures of the benchmark harness, one class per cause so a run's failure line says what broke. */

/** A broker process exited or never accepted connections on its MQTT port. */
export class BrokerStartError extends Error {
  override readonly name = 'BrokerStartError'
}

/** A broker process exited while a workload was running against it. */
export class BrokerCrashedError extends Error {
  override readonly name = 'BrokerCrashedError'
}

/** A load generator process failed, timed out or printed no result. */
export class GeneratorError extends Error {
  override readonly name = 'GeneratorError'
}

/** The broker answered CONNECT with a refusal, or the connection closed before CONNACK. */
export class ConnectRefusedError extends Error {
  override readonly name = 'ConnectRefusedError'
}

/** A SUBSCRIBE was refused (return code 0x80) or not acknowledged in time. */
export class SubscribeFailedError extends Error {
  override readonly name = 'SubscribeFailedError'
}

/** Messages published before the measurement never reached every subscriber in time. */
export class RoutesNotReadyError extends Error {
  override readonly name = 'RoutesNotReadyError'
}

/** A scenario cannot run on this machine (for example, no network namespaces); the reason says why. */
export class ScenarioSkippedError extends Error {
  override readonly name = 'ScenarioSkippedError'
}

/** A bounded wait ran out. */
export class BenchTimeoutError extends Error {
  override readonly name = 'BenchTimeoutError'
}

/** A command-line flag is unknown or has an invalid value. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}
