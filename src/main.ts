#!/usr/bin/env node
/** The `meshmq` command: `start` runs a node, `ctl` administers a running one, `passwd` edits a password file. */
import './core/polyfill.js'
import { hostFacts } from './host-facts.js'
import { parseCommandLine, UsageError, USAGE } from './cli-args.js'
import { loadConfig, ConfigError, type ChosenNodeName } from './core/config/config.js'
import { BROKER_VERSION } from './core/version.js'
import { StoreCorruptError, StoreLockedError } from './store/store.js'

async function main (argv: string[]): Promise<number> {
  const command = parseCommandLine(argv)
  switch (command.kind) {
    case 'help':
      process.stdout.write(command.text)
      return 0
    case 'version':
      process.stdout.write(`meshmq ${BROKER_VERSION}\n`)
      return 0
    case 'passwd': {
      const { runPasswd } = await import('./passwd.js')
      return await runPasswd(command.command)
    }
    case 'ctl': {
      if (command.args[0] === 'store') {
        const { runStoreCommand } = await import('./store-command.js')
        return await runStoreCommand(command)
      }
      const { runCtl } = await import('./ctl.js')
      return await runCtl(command)
    }
    case 'start': {
      // A node given no name takes the one its data directory records, or one from the host's address.
      let chosen: ChosenNodeName | undefined
      const host = hostFacts((name: ChosenNodeName) => { chosen = name })
      const config = loadConfig({ ...(command.configFile !== undefined ? { file: command.configFile } : {}), env: process.env, overrides: command.overrides, host })
      // Signal handlers go in before the node starts, so a SIGTERM during start-up still stops it cleanly.
      let stopRequested: string | undefined
      const running: { stop?: (signal: string) => void } = {}
      const onSignal = (signal: string): void => {
        stopRequested ??= signal
        running.stop?.(signal)
      }
      process.once('SIGINT', () => onSignal('SIGINT'))
      process.once('SIGTERM', () => onSignal('SIGTERM'))
      // Loaded here so `meshmq ctl` does not load the broker and libp2p.
      const { startBroker } = await import('./broker.js')
      const { createLogger } = await import('./core/log.js')
      const { LogTap } = await import('./core/log-tap.js')
      const logTap = new LogTap({ maxLines: config.http.logTailLines, maxBytes: config.http.logTailBytes })
      const log = createLogger({ level: config.log.level, format: config.log.format, node: config.node.name, tap: logTap })
      if (command.secretOnCommandLine === true) {
        log.warn({ advice: 'pass the secret in a file (--secret-file FILE, cluster.secretFile) or in MESHMQ_CLUSTER_SECRET' }, 'cluster_secret_on_command_line')
      }
      if (chosen !== undefined) log.info({ source: chosen.source, ...(chosen.interface !== undefined ? { interface: chosen.interface } : {}) }, 'node_name_chosen')
      const broker = await startBroker(config, { log, logTap })
      running.stop = (signal: string): void => {
        broker.log.info({ signal }, 'shutdown_requested')
        broker.stop().then(() => process.exit(0), () => process.exit(1))
      }
      if (stopRequested !== undefined) running.stop(stopRequested)
      // SIGHUP re-reads the auth files (as mosquitto reloads its password and ACL files; they are
      // also reloaded when they change) and the TLS listeners' certificates.
      process.on('SIGHUP', () => {
        broker.log.info({}, 'auth_reload_requested')
        broker.reloadAuth()
        void broker.reloadCertificates()
      })
      return -1
    }
  }
}

main(process.argv.slice(2)).then(code => {
  if (code >= 0) process.exitCode = code
}, (err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`meshmq: ${err.message}\n\n${USAGE}`)
    process.exitCode = 2
  } else if (err instanceof ConfigError) {
    process.stderr.write(`meshmq: invalid configuration: ${err.message}\n`)
    process.exitCode = 78
  } else if (err instanceof StoreCorruptError) {
    // EX_DATAERR: the node does not start on a store it cannot read (the message says how to recover).
    process.stderr.write(`meshmq: ${err.message}\n`)
    process.exitCode = 65
  } else if (err instanceof StoreLockedError) {
    // EX_TEMPFAIL: another process has the store.
    process.stderr.write(`meshmq: ${err.message}\n`)
    process.exitCode = 75
  } else {
    process.stderr.write(`meshmq: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exitCode = 1
  }
})
