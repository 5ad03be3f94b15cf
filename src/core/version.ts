/** The broker's version, reported by `meshmq --version` and `$SYS/brokers/<node>/version`. */
export const BROKER_VERSION = '0.1.0'
