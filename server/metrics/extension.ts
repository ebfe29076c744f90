import { type ApiExtension } from '../api/server.js';
import { METRICS_PATH } from './constants.js';
import { DhtscopeMetrics, type DhtscopeMetricsOptions } from './dhtscope-metrics.js';
import { type MetricsSources } from './sources.js';

/**
 * `GET /metrics` for the API server (server/api/server.ts `extensions`): the Prometheus text
 * exposition of `metrics`, or of new DhtscopeMetrics over `sources`. The server's close
 * detaches the metrics from their event sources.
 */
export function metricsExtension(from: MetricsSources | DhtscopeMetrics, options: DhtscopeMetricsOptions = {}): ApiExtension {
  return (app) => {
    const metrics = from instanceof DhtscopeMetrics ? from : new DhtscopeMetrics(from, options);
    app.get(METRICS_PATH, async (_req, reply) => {
      const text = await metrics.render();
      return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(text);
    });
    app.addHook('onClose', async () => metrics.close());
  };
}
