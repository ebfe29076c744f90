import { type ApiExtension } from '../indexer/api/server.js';
import { type DhtscopeSystem } from './system.js';

/**
 * What `dhtscope run` adds to the HTTP API besides the /api routes (the dashboard at `/`,
 * Prometheus metrics at `/metrics`), given the running system they read from.
 */
export function apiExtensions(_system: DhtscopeSystem): ApiExtension[] {
  return [];
}
