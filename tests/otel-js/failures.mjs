// Wraps an OpenTelemetry exporter so that every failed export is printed and counted;
// returns a function that tells how many failed.
export function countFailures(exporter) {
  let failures = 0;
  const export_ = exporter.export.bind(exporter);
  exporter.export = (batch, done) =>
    export_(batch, (result) => {
      if (result.code !== 0) {
        failures++;
        console.error('export failed:', result.error?.message ?? result);
      }
      done(result);
    });
  return () => failures;
}
