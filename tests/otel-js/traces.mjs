// Sends one trace to Pharos with the OpenTelemetry JavaScript SDK's trace exporters, over
// OTLP/HTTP in protobuf or JSON or over OTLP/gRPC, and fails on any export error. Usage:
//   node traces.mjs URL proto|json|grpc SERVICE
// (for gRPC the URL is http://HOST:PORT). The trace: a server span "GET /checkout" with
// a child client span "charge" that has attributes of each type, an event, a link to
// another trace and an error status. Prints the trace id.
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { countFailures } from './failures.mjs';

const [url, encoding, service] = process.argv.slice(2);
const exporter =
  encoding === 'grpc' ? new GrpcExporter({ url }) :
  encoding === 'json' ? new JsonExporter({ url }) : new ProtoExporter({ url });
const failures = countFailures(exporter);
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test', 'host.name': 'js-host' }),
  spanProcessors: [new BatchSpanProcessor(exporter)],
});
const tracer = provider.getTracer('pharos-traces-test', '3.0.0');
const root = tracer.startSpan('GET /checkout', {
  kind: SpanKind.SERVER,
  attributes: { 'http.request.method': 'GET', 'http.response.status_code': 500 },
});
const linked = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
const child = tracer.startSpan('charge', {
  kind: SpanKind.CLIENT,
  attributes: { 'peer.service': 'payment', 'amount': 42.5, 'retry': true, 'items': ['a', 'b'] },
  links: [{ context: linked, attributes: { 'link.reason': 'batch' } }],
}, trace.setSpan(context.active(), root));
child.addEvent('card.declined', { 'card.brand': 'visa' });
child.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' });
child.end();
root.setStatus({ code: SpanStatusCode.ERROR });
root.end();
await provider.forceFlush();
await provider.shutdown();
if (failures() > 0) process.exit(1);
console.log(root.spanContext().traceId);
