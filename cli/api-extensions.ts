import { type ApiExtension } from '../server/api/server.js';
import { dashboardExtension } from '../server/dashboard/extension.js';
import { metricsExtension } from '../server/metrics/extension.js';
import { type MetricsSources } from '../server/metrics/sources.js';
import { type DhtscopeSystem } from './system.js';

/**
 * What `dhtscope run` adds to the HTTP API besides the /api routes (the dashboard at `/`,
 * Prometheus metrics at `/metrics`), given the running system they read from.
 */
export function apiExtensions(system: DhtscopeSystem): ApiExtension[] {
  return [dashboardExtension({ redis: system.connection.client, keys: system.keys }), metricsExtension(metricsSources(system), { processMetrics: true })];
}

/** The system's parts are assigned one by one during start-up: until then they are undefined. */
const maybe = <T>(part: T): T | undefined => part;

/** Where each metric comes from; read at every scrape, so parts made after the API (the crawler) appear once they exist. */
export function metricsSources(system: DhtscopeSystem): MetricsSources {
  return {
    node: () => maybe(system.node)?.stats(),
    rpcEvents: () => maybe(system.node),
    crawl: () => maybe(system.crawler)?.progress(),
    producer: () => maybe(system.producer)?.stats(),
    retention: () => system.pruner?.stats(),
    workers: () => maybe(system.workers)?.stats(),
    queues: () => maybe(system.workers)?.queueDepths(),
    batchWrites: () => maybe(system.workers),
  };
}
