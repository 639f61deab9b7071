import pino, { type Logger } from 'pino';

/**
 * One JSON line per event: what the coordinator did, to what, and why. Every
 * line carries pid and hostname, since several coordinators may share one
 * PostgreSQL database and one log pipeline.
 */
export function createLogger(level: string): Logger {
  return pino({ level, timestamp: pino.stdTimeFunctions.isoTime });
}
