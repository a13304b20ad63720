// Emits log records to Pharos with the OpenTelemetry JavaScript SDK's log exporters, over
// OTLP/HTTP in protobuf or JSON or over OTLP/gRPC, and fails on any export error. Usage:
//   node logs.mjs URL proto|json|grpc SERVICE
// (for gRPC the URL is http://HOST:PORT). Each record: a string body "<SERVICE> order N
// placed", severity INFO (ERROR for the last), attributes order.id and http.status_code, a
// trace and span id; the last record has a structured (map) body.
import { context, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { LoggerProvider, BatchLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPLogExporter as JsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as GrpcExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { countFailures } from './failures.mjs';

const [url, encoding, service] = process.argv.slice(2);
const exporter =
  encoding === 'grpc' ? new GrpcExporter({ url }) :
  encoding === 'json' ? new JsonExporter({ url }) : new ProtoExporter({ url });
const failures = countFailures(exporter);
const provider = new LoggerProvider({
  resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test', 'host.name': 'js-host' }),
  processors: [new BatchLogRecordProcessor({ exporter })],
});
const logger = provider.getLogger('pharos-logs-test', '2.0.0');
const spanContext = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
for (let i = 1; i <= 3; i++) {
  logger.emit({
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    body: `${service} order ${i} placed`,
    attributes: { 'order.id': `o-${i}`, 'http.status_code': 201 },
    context: trace.setSpanContext(context.active(), spanContext),
  });
}
logger.emit({
  severityNumber: SeverityNumber.ERROR,
  severityText: 'ERROR',
  body: { event: 'payment.failed', amount: 42.5, retries: [1, 2] },
  attributes: { 'order.id': 'o-4' },
});
await provider.forceFlush();
await provider.shutdown();
if (failures() > 0) process.exit(1);
console.log(`exported logs with ${encoding} to ${url}`);
