// Ships three log lines to Pharos's Loki push API with a real Loki client and fails on any
// push error. Usage:
//   node ship.mjs URL winston-proto|winston-json|pino APP
// winston-loki pushes protobuf compressed with snappy (or JSON with winston-json);
// pino-loki pushes JSON. Each line: "<APP> shipped line N", stream labels app=APP and the
// client's level label.
import winston from 'winston';
import LokiTransport from 'winston-loki';
import pino from 'pino';
import { pinoLoki } from 'pino-loki';

const [url, client, app] = process.argv.slice(2);
let failures = 0;
const fail = (err) => {
  failures++;
  console.error('push failed:', err?.message ?? err);
};

if (client.startsWith('winston')) {
  const transport = new LokiTransport({
    host: url,
    labels: { app },
    json: client === 'winston-json',
    batching: true,
    interval: 0.1,  // seconds: flush() waits for the next tick
    gracefulShutdown: false,
    onConnectionError: fail,
  });
  const logger = winston.createLogger({ transports: [transport] });
  for (let i = 1; i <= 3; i++) logger.info(`${app} shipped line ${i}`, { order: i });
  await new Promise((resolve) => setTimeout(resolve, 100));  // winston writes asynchronously
  try {
    await transport.flush();
  } catch (err) {
    fail(err);
  }
  transport.close();
} else {
  const stream = pinoLoki({ host: url, labels: { app }, batching: false, silenceErrors: false });
  const original = console.error;
  console.error = (...args) => {  // pino-loki reports failed pushes here
    failures++;
    original(...args);
  };
  const logger = pino({}, stream);
  for (let i = 1; i <= 3; i++) logger.info({ order: i }, `${app} shipped line ${i}`);
  await new Promise((resolve) => setTimeout(resolve, 500));
  stream.end();
  await new Promise((resolve) => setTimeout(resolve, 200));
}
if (failures > 0) process.exit(1);
console.log(`shipped with ${client} to ${url}`);
