/**
 * For the krpc-message-*.test.ts files: asserts the kind (`y`) of a parsed KRPC message and
 * returns it as that kind.
 */
import { type ExecutionContext } from 'ava';
import { type IncomingError, type IncomingMessage, type IncomingQuery, type IncomingResponse } from '../../bep5/krpc-message.js';

export function asQuery(t: ExecutionContext, m: IncomingMessage): IncomingQuery {
  t.is(m.y, 'q');
  return m as IncomingQuery;
}
export function asResponse(t: ExecutionContext, m: IncomingMessage): IncomingResponse {
  t.is(m.y, 'r');
  return m as IncomingResponse;
}
export function asError(t: ExecutionContext, m: IncomingMessage): IncomingError {
  t.is(m.y, 'e');
  return m as IncomingError;
}
