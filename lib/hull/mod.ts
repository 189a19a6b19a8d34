/**
 * The Hull integration: what makes this a Hull connector. The manifest Hull reads, the
 * installation tab, Hull's signing keys fetched from allowed hosts only, the binding rule (a
 * Hull-signed body acts only with its connector's id and secret: connector_binding.ts), the
 * connector's credentials (kept encrypted), settings synced from Hull's notifications, and
 * profiles fetched from Hull's API for visitors we have no profile of. services.ts wires them.
 *
 * May import: the leaves at the top of lib/, the store contract and live config, the webhook's
 * signature and profile conversion. Never the socket server or the dashboard (a fetched
 * profile goes out through the `Publisher`).
 */
export { createHullServices, type HullServices } from "./services.ts";
export { connectorManifest } from "./manifest.ts";
export { type HullConfig, parseHullConfig } from "./hull_config.ts";
