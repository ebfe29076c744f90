import { createSocket, type RemoteInfo } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { decode } from './bencode.js';
import { BencodeDecodeError, KrpcAbortError, KrpcInflightLimitError, KrpcInvalidReplyError, KrpcRemoteError, KrpcSendError, KrpcSocketClosedError, KrpcTimeoutError, QueryRejection, FieldError, MalformedMessageError } from './errors.js';
import { type Clock, type TimerHandle, systemClock } from './clock.js';
import { type PeerAddress } from './compact.js';
import { CLIENT_VERSION, DEFAULT_MAX_INFLIGHT, DEFAULT_QUERY_TIMEOUT_MS, KRPC_ERROR_METHOD_UNKNOWN, KRPC_ERROR_PROTOCOL, KRPC_ERROR_SERVER, MAX_BEP44_SEND_BYTES, MAX_DATAGRAM_BYTES, MAX_MESSAGE_DEPTH, MAX_SEND_BYTES, TRANSACTION_ID_BYTES } from './constants.js';
import { ipFamily, normalizeHost } from './ip.js';
import { type IncomingError, type IncomingQuery, type IncomingResponse, encodeErrorMessage, encodeQueryMessage, encodeResponseMessage, parseMessage } from './krpc-message.js';
import { type Method, type QueryOf, assertValidQuery, encodeQueryArgs, isMethod, parseQueryArgs } from './queries.js';
import { type RandomSource, cryptoRandom } from './random.js';
import { type ReplyInput, encodeReply, parseReply } from './replies.js';
import { type DatagramSocket, type DropReason, type KrpcSocketEvents, type KrpcSocketOptions, type KrpcSocketStats, type QueryContext, type QueryHandler, type QueryOptions, type QueryResult, type SocketFamily, errorCodeLabel } from './krpc-socket-types.js';

/**
 * The KRPC transport: one UDP socket, outgoing queries matched to replies, incoming queries
 * dispatched to handlers. Every datagram from the network enters here and nowhere else.
 *
 * Guarantees, each tested on real loopback sockets (test/krpc-socket*.test.ts):
 * - nothing a datagram contains makes this class throw, hang or grow without bound: it is
 *   decoded with the strict codec under size and depth limits, then validated field by field;
 *   failures are counted by reason and dropped, or answered with 203/204/202;
 * - transaction IDs are random (4 bytes), and a reply is accepted only from the exact
 *   address and port the query went to, and only if it is a valid answer to that method;
 * - memory is bounded: at most `maxInflight` pending queries and `maxPendingHandlers`
 *   handler calls at once.
 *
 * Why this file is about 400 lines: those guarantees hold because one class sees every
 * datagram in both directions; its shapes (options, results, stats, events) are in
 * krpc-socket-types.ts, the wire format in krpc-message.ts, queries.ts and replies.ts.
 */

interface Pending {
  method: Method;
  host: string;
  port: number;
  sentAt: number;
  timer: TimerHandle;
  resolve: (result: QueryResult<Method>) => void;
  reject: (err: Error) => void;
  cleanup: () => void;
}

const DROP_REASONS: DropReason[] = [
  'too-large',
  'undecodable',
  'malformed',
  'unknown-transaction',
  'wrong-source',
  'invalid-reply',
  'handlers-busy',
  'read-only',
  'rate-limited',
  'reply-too-large',
];

const DEFAULT_MAX_PENDING_HANDLERS = 1_024;

export class KrpcSocket extends EventEmitter<KrpcSocketEvents> {
  readonly type: SocketFamily;
  private readonly socket: DatagramSocket;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly timeoutMs: number;
  private readonly maxInflight: number;
  private readonly maxPendingHandlers: number;
  private readonly version: Buffer | undefined;
  private readonly readOnly: boolean;
  private readonly replyWithIp: boolean;
  private readonly maxSendBytes: number;
  private readonly maxBep44SendBytes: number;
  private readonly admitQuery: ((from: PeerAddress) => boolean) | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, QueryHandler<Method>>();
  private pendingHandlers = 0;
  /** Random bytes drawn 1 KB at a time for transaction IDs: one CSPRNG call per 256 queries. */
  private txPool: Buffer = Buffer.alloc(0);
  private txOffset = 0;
  private state: 'new' | 'bound' | 'closed' = 'new';
  private readonly counters: KrpcSocketStats;

  constructor(options: KrpcSocketOptions = {}) {
    super();
    this.type = options.type ?? 'udp4';
    this.socket = options.socket ?? createSocket({ type: this.type, ipv6Only: this.type === 'udp6', ...(options.recvBufferSize === undefined ? {} : { recvBufferSize: options.recvBufferSize }) });
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? cryptoRandom;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    this.maxInflight = options.maxInflight ?? DEFAULT_MAX_INFLIGHT;
    this.maxPendingHandlers = options.maxPendingHandlers ?? DEFAULT_MAX_PENDING_HANDLERS;
    this.version = options.version === null ? undefined : (options.version ?? CLIENT_VERSION);
    this.readOnly = options.readOnly ?? false;
    this.replyWithIp = options.replyWithIp ?? true;
    this.maxSendBytes = options.maxSendBytes ?? MAX_SEND_BYTES;
    this.maxBep44SendBytes = options.maxBep44SendBytes ?? MAX_BEP44_SEND_BYTES;
    this.admitQuery = options.admitQuery;
    this.counters = {
      datagramsIn: 0,
      datagramsOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      queriesIn: {},
      queriesOut: {},
      repliesIn: 0,
      repliesOut: 0,
      errorsIn: 0,
      errorsInByCode: {},
      errorsOut: {},
      timeouts: 0,
      dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
      decodeFailures: {},
      handlerFailures: 0,
      sendFailures: 0,
      internalErrors: 0,
    };
    this.socket.on('message', (msg, rinfo) => {
      try {
        this.onDatagram(msg, rinfo);
      } catch (err) {
        this.internalError(err);
      }
    });
    this.socket.on('error', (err) => {
      if (this.listenerCount('socket-error') > 0) this.emit('socket-error', err);
    });
  }

  /** Binds the socket. Port 0 picks a free port; the bound address is returned. */
  bind(port = 0, host = this.type === 'udp4' ? '0.0.0.0' : '::'): Promise<PeerAddress> {
    if (this.state !== 'new') return Promise.reject(new Error(`cannot bind a ${this.state} socket`));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.socket.once('error', onError);
      this.socket.bind(port, host, () => {
        this.socket.off('error', onError);
        this.state = 'bound';
        resolve(this.address());
      });
    });
  }

  address(): PeerAddress {
    const a = this.socket.address();
    return { host: a.address, port: a.port };
  }

  get inflight(): number {
    return this.pending.size;
  }

  /** A snapshot of the counters. */
  stats(): KrpcSocketStats {
    return structuredClone(this.counters);
  }

  /** Registers the handler for a method; without one, the method is answered with 204. */
  handle<M extends Method>(method: M, handler: QueryHandler<M>): this {
    this.handlers.set(method, handler as unknown as QueryHandler<Method>);
    return this;
  }

  /** Sends a query and resolves with the validated reply, or rejects with a KrpcQueryError. */
  query<M extends Method>(to: PeerAddress, query: QueryOf<M>, options: QueryOptions = {}): Promise<QueryResult<M>> {
    if (this.state !== 'bound') return Promise.reject(new KrpcSocketClosedError());
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new KrpcAbortError(signal.reason));
    if (this.pending.size >= this.maxInflight) return Promise.reject(new KrpcInflightLimitError(this.maxInflight));
    const host = normalizeHost(to.host);
    if (host === undefined || !this.canReach(host)) {
      return Promise.reject(new KrpcSendError(`not an ${this.type === 'udp4' ? 'IPv4' : 'IPv6'} address: ${to.host}`));
    }
    if (!Number.isInteger(to.port) || to.port < 1 || to.port > 65_535) {
      return Promise.reject(new KrpcSendError(`bad port: ${to.port}`));
    }
    assertValidQuery(query);

    const key = this.newTransaction();
    const t = Buffer.alloc(TRANSACTION_ID_BYTES);
    t.writeUInt32BE(key, 0);
    const datagram = encodeQueryMessage(t, query.method, encodeQueryArgs(query), {
      v: this.version,
      readOnly: this.readOnly,
    });
    const limit = this.sendLimit(query.method);
    if (datagram.length > limit) {
      return Promise.reject(new KrpcSendError(`query of ${datagram.length} bytes exceeds ${limit}`));
    }
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;

    return new Promise<QueryResult<M>>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.pending.get(key) !== entry) return;
        entry.cleanup();
        reject(new KrpcAbortError(signal?.reason));
      };
      const entry: Pending = {
        method: query.method,
        host,
        port: to.port,
        sentAt: this.clock.now(),
        timer: this.clock.setTimeout(() => {
          if (this.pending.get(key) !== entry) return;
          entry.cleanup();
          this.counters.timeouts++;
          reject(new KrpcTimeoutError(timeoutMs));
        }, timeoutMs),
        resolve: resolve as (result: QueryResult<Method>) => void,
        reject,
        cleanup: () => {
          this.pending.delete(key);
          this.clock.clearTimeout(entry.timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      entry.timer.unref?.();
      this.pending.set(key, entry);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.counters.queriesOut[query.method] = (this.counters.queriesOut[query.method] ?? 0) + 1;
      this.sendDatagram(datagram, to.port, host, (err) => {
        if (err === null || this.pending.get(key) !== entry) return;
        entry.cleanup();
        reject(new KrpcSendError(`send to ${host}:${to.port} failed: ${err.message}`, err));
      });
    });
  }

  /** Closes the socket; pending queries reject with KrpcSocketClosedError. Idempotent. */
  close(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    const wasBound = this.state === 'bound';
    this.state = 'closed';
    for (const entry of [...this.pending.values()]) {
      entry.cleanup();
      entry.reject(new KrpcSocketClosedError());
    }
    if (!wasBound) return Promise.resolve();
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  /** BEP 44 datagrams carry values of up to 1,000 bytes and have a limit of their own (constants.ts). */
  private sendLimit(method: Method): number {
    return method === 'get' || method === 'put' ? this.maxBep44SendBytes : this.maxSendBytes;
  }

  private canReach(host: string): boolean {
    return ipFamily(host) === (this.type === 'udp4' ? 4 : 6);
  }

  /** A random transaction ID not in use; the in-flight cap keeps collisions rare. */
  private newTransaction(): number {
    for (;;) {
      if (this.txOffset + TRANSACTION_ID_BYTES > this.txPool.length) {
        this.txPool = this.random.bytes(1024);
        this.txOffset = 0;
      }
      const key = this.txPool.readUInt32BE(this.txOffset);
      this.txOffset += TRANSACTION_ID_BYTES;
      if (!this.pending.has(key)) return key;
    }
  }

  private sendDatagram(datagram: Buffer, port: number, host: string, callback?: (err: Error | null) => void): void {
    this.counters.datagramsOut++;
    this.counters.bytesOut += datagram.length;
    try {
      this.socket.send(datagram, port, host, (err) => {
        if (err) this.counters.sendFailures++;
        callback?.(err ?? null);
      });
    } catch (err) {
      // dgram throws synchronously for some bad arguments and after close.
      this.counters.sendFailures++;
      callback?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private internalError(err: unknown): void {
    this.counters.internalErrors++;
    if (this.listenerCount('internal-error') > 0) this.emit('internal-error', err);
  }

  private drop(reason: DropReason, from: PeerAddress): void {
    this.counters.dropped[reason]++;
    if (this.listenerCount('drop') > 0) this.emit('drop', reason, from);
  }

  private onDatagram(datagram: Buffer, rinfo: RemoteInfo): void {
    if (this.state === 'closed') return;
    this.counters.datagramsIn++;
    this.counters.bytesIn += datagram.length;
    const from: PeerAddress = { host: normalizeHost(rinfo.address) ?? rinfo.address, port: rinfo.port };
    if (datagram.length > MAX_DATAGRAM_BYTES) return this.drop('too-large', from);

    let message;
    try {
      message = parseMessage(decode(datagram, { maxBytes: MAX_DATAGRAM_BYTES, maxDepth: MAX_MESSAGE_DEPTH }));
    } catch (err) {
      if (err instanceof BencodeDecodeError) {
        this.counters.decodeFailures[err.reason] = (this.counters.decodeFailures[err.reason] ?? 0) + 1;
        return this.drop('undecodable', from);
      }
      if (err instanceof MalformedMessageError) {
        this.drop('malformed', from);
        if (err.replyTo !== undefined && !this.readOnly) this.sendError(err.replyTo, KRPC_ERROR_PROTOCOL, err.reason, from);
        return;
      }
      throw err; // not an input problem: a bug of ours, counted by the caller
    }

    if (message.y === 'q') this.onQuery(message, from, datagram.length);
    else this.onAnswer(message, from);
  }

  private onAnswer(message: IncomingResponse | IncomingError, from: PeerAddress): void {
    // Our transaction IDs are exactly TRANSACTION_ID_BYTES long; anything else is not ours.
    if (message.t.length !== TRANSACTION_ID_BYTES) return this.drop('unknown-transaction', from);
    const key = message.t.readUInt32BE(0);
    const entry = this.pending.get(key);
    if (entry === undefined) return this.drop('unknown-transaction', from);
    if (entry.host !== from.host || entry.port !== from.port) return this.drop('wrong-source', from);

    entry.cleanup();
    if (message.y === 'e') {
      this.counters.errorsIn++;
      const label = errorCodeLabel(message.code);
      this.counters.errorsInByCode[label] = (this.counters.errorsInByCode[label] ?? 0) + 1;
      entry.reject(new KrpcRemoteError(message.code, message.message));
      return;
    }
    let reply;
    try {
      reply = parseReply(entry.method, message.body);
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      this.drop('invalid-reply', from);
      entry.reject(new KrpcInvalidReplyError(err.reason));
      return;
    }
    this.counters.repliesIn++;
    const result: QueryResult<Method> = {
      reply,
      from,
      rttMs: this.clock.now() - entry.sentAt,
      v: message.v && Buffer.from(message.v),
      ip: message.ip,
    };
    entry.resolve(result);
    if (this.listenerCount('response') > 0) this.emit('response', entry.method, result);
  }

  private onQuery(message: IncomingQuery, from: PeerAddress, bytes: number): void {
    if (this.readOnly) return this.drop('read-only', from); // BEP 43: read-only nodes answer nothing
    if (this.admitQuery !== undefined && !this.admitQuery(from)) return this.drop('rate-limited', from);
    const t = Buffer.from(message.t); // copied: the answer may be sent after the datagram is gone
    const handler = this.handlers.get(message.method);
    if (handler === undefined || !isMethod(message.method)) {
      this.sendError(t, KRPC_ERROR_METHOD_UNKNOWN, 'method unknown', from);
      return;
    }
    const method: Method = message.method;
    this.counters.queriesIn[method] = (this.counters.queriesIn[method] ?? 0) + 1;
    let query: QueryOf<Method>;
    try {
      query = parseQueryArgs(method, message.args);
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      this.sendError(t, err.krpcCode, err.reason, from);
      return;
    }
    if (this.pendingHandlers >= this.maxPendingHandlers) return this.drop('handlers-busy', from);

    const context: QueryContext = { from, bytes, v: message.v && Buffer.from(message.v), readOnly: message.readOnly };
    if (this.listenerCount('query') > 0) this.emit('query', query, context);

    let outcome: ReplyInput<Method> | Promise<ReplyInput<Method>>;
    try {
      outcome = handler(query, context);
    } catch (err) {
      return this.answerFailure(t, err, method, from);
    }
    if (outcome instanceof Promise) {
      this.pendingHandlers++;
      outcome
        .then(
          (reply) => this.answer(t, method, reply, from),
          (err: unknown) => this.answerFailure(t, err, method, from),
        )
        .catch((err: unknown) => this.internalError(err))
        .finally(() => this.pendingHandlers--);
    } else {
      this.answer(t, method, outcome, from);
    }
  }

  private answer(t: Buffer, method: Method, reply: ReplyInput<Method>, to: PeerAddress): void {
    if (this.state === 'closed') return;
    let datagram: Buffer;
    try {
      datagram = encodeResponseMessage(t, encodeReply(method, reply), this.extrasFor(to));
    } catch (err) {
      return this.answerFailure(t, err, method, to);
    }
    if (datagram.length > this.sendLimit(method)) {
      this.drop('reply-too-large', to);
      this.sendError(t, KRPC_ERROR_SERVER, 'reply too large', to);
      return;
    }
    this.counters.repliesOut++;
    this.sendDatagram(datagram, to.port, to.host);
  }

  private answerFailure(t: Buffer, err: unknown, method: Method, to: PeerAddress): void {
    if (err instanceof QueryRejection) {
      this.sendError(t, err.krpcCode, err.reason, to);
      return;
    }
    this.counters.handlerFailures++;
    if (this.listenerCount('handler-error') > 0) this.emit('handler-error', err, method);
    this.sendError(t, KRPC_ERROR_SERVER, 'server error', to);
  }

  private sendError(t: Buffer, code: number, message: string, to: PeerAddress): void {
    if (this.state !== 'bound') return;
    this.counters.errorsOut[code] = (this.counters.errorsOut[code] ?? 0) + 1;
    this.sendDatagram(encodeErrorMessage(t, code, message, this.extrasFor(to)), to.port, to.host);
  }

  private extrasFor(to: PeerAddress): { v?: Buffer; ip?: PeerAddress } {
    return { v: this.version, ip: this.replyWithIp ? to : undefined };
  }
}
