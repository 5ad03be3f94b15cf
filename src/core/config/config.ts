/**
 * Broker configuration, the module every layer imports: the keys and their rules (`schema.ts`),
 * every default (`defaults.ts`), node names and addresses (`node-name.ts`), and `loadConfig`
 * (`load.ts`), which merges defaults < config file (JSON) < environment (`MESHMQ_*`) <
 * command-line flags and computes the derived defaults.
 */
export { ConfigError } from './config-error.js'
export {
  CLUSTER_DEFAULTS, CONTROL_PORT_OFFSET, DEFAULT_CLUSTER_PORT_BASE, DEFAULT_CLUSTER_SECRET, DEFAULT_CONTROL_HOST, DEFAULT_SECRET_ADVICE,
  DEFAULT_NODE_NAME, clusterTunablesOf, fixedDefaults
} from './defaults.js'
export { CONFIG_FILE_ENV, configKeys, defaultConfig, environmentVariableOf, loadConfig, type HostFacts } from './load.js'
export {
  DEFAULT_NODE_BASE, chooseNodeName, primaryIPv4,
  type ChosenNodeName, type InterfaceAddress, type InterfaceMap, type NodeNameSource
} from './default-node-name.js'
export {
  InvalidNodeAddressError, InvalidNodeNameError, clusterPortFor, parseNodeAddress, parseNodeName,
  type NodeAddress, type NodeName
} from './node-name.js'
export {
  CONTROL_TRANSPORTS, DISCOVERY_STRATEGIES, LOG_FORMATS, LOG_LEVELS, PERSISTENCE_MODES, QUEUE_DROP_POLICIES,
  type BrokerConfig, type ClusterConfig, type ControlTransport, type ClusterTunables, type DeepPartial, type DiscoveryStrategy, type LogFormat,
  type LogLevel, type PersistenceConfig, type PersistenceMode, type QueueDropPolicy
} from './schema.js'
