import { verifyItemSignature } from '../bep44.js';
import { KRPC_ERROR_CAS_MISMATCH, KRPC_ERROR_INVALID_SIGNATURE, KRPC_ERROR_SEQ_TOO_LOW } from '../constants.js';
import { QueryRejection } from '../errors.js';
import { type QueryHandler } from '../krpc-socket-types.js';
import { type HandlerContext, checkWriteAccess } from './context.js';

/**
 * BEP 44 put: with a valid write token (as announce_peer), store an immutable item under
 * SHA-1(v), or a mutable one, once its signature holds (206 if not), under SHA-1(k ‖ salt);
 * a stale seq is 302, a CAS mismatch 301 (item-store.ts has the rules). As for announces, a
 * put refused by the store's caps is still answered with success (see announce-peer.ts).
 */
export function putHandler(ctx: HandlerContext): QueryHandler<'put'> {
  return (query, { from }) => {
    checkWriteAccess(ctx, query, from);
    const { k, sig, seq } = query;
    if (k === undefined || sig === undefined || seq === undefined) {
      ctx.items.putImmutable(query.vBytes, from.host);
      return { id: ctx.ownId() };
    }
    if (!verifyItemSignature(k, sig, seq, query.vBytes, query.salt)) throw new QueryRejection(KRPC_ERROR_INVALID_SIGNATURE, 'invalid signature');
    const outcome = ctx.items.putMutable({ k, sig, seq, vBytes: query.vBytes, salt: query.salt, cas: query.cas }, from.host);
    if (outcome === 'cas-mismatch') throw new QueryRejection(KRPC_ERROR_CAS_MISMATCH, 'cas mismatch');
    if (outcome === 'seq-too-low') throw new QueryRejection(KRPC_ERROR_SEQ_TOO_LOW, 'sequence number less than current');
    if (outcome === 'seq-conflict') throw new QueryRejection(KRPC_ERROR_SEQ_TOO_LOW, 'sequence number not higher than current, value differs');
    return { id: ctx.ownId() };
  };
}
