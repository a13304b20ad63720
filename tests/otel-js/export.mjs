// Exports a counter, an up-down counter, a histogram and a gauge to Pharos with the
// OpenTelemetry JavaScript SDK, over OTLP/HTTP in protobuf or JSON or over OTLP/gRPC, and
// fails on any export error. Usage:
//   node export.mjs URL proto|json|grpc|grpc-gzip SERVICE [cumulative|delta] [TOKEN]
// (for gRPC the URL is http://HOST:PORT; TOKEN goes in `authorization: Bearer` metadata)
import { metrics } from '@opentelemetry/api';
import { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as GrpcExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { Metadata } from '@grpc/grpc-js';
import { countFailures } from './failures.mjs';

const [url, encoding, service, temporality, token] = process.argv.slice(2);
const options = {
  url,
  temporalityPreference: temporality === 'delta' ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
};
let exporter;
if (encoding.startsWith('grpc')) {
  if (encoding === 'grpc-gzip') options.compression = 'gzip';
  if (token) {
    options.metadata = new Metadata();
    options.metadata.set('authorization', `Bearer ${token}`);
  }
  exporter = new GrpcExporter(options);
} else {
  exporter = encoding === 'json' ? new JsonExporter(options) : new ProtoExporter(options);
}
const failures = countFailures(exporter);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60000 });
const provider = new MeterProvider({
  resource: resourceFromAttributes({ 'service.name': service, 'service.instance.id': 'js-1', 'host.name': 'test-host' }),
  readers: [reader],
});
const meter = provider.getMeter('pharos-test', '1.0.0');
const requests = meter.createCounter('http.requests', { unit: '{request}' });
const inflight = meter.createUpDownCounter('http.inflight');
const latency = meter.createHistogram('http.duration', { unit: 'ms' });
const temperature = meter.createObservableGauge('room.temperature', { unit: 'Cel' });
temperature.addCallback((r) => r.observe(21.5, { room: 'lab' }));
for (let i = 0; i < 3; i++) {
  requests.add(5, { method: 'GET', code: '200' });
  inflight.add(1);
  latency.record(12 + i, { route: '/cart' });
  await reader.forceFlush();
}
await provider.shutdown();
if (failures() > 0) process.exit(1);
console.log(`exported with ${encoding} to ${url}`);
