import pino, { type Logger } from 'pino';

/** One JSON line per event: what the coordinator did, to what, and why. */
export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
