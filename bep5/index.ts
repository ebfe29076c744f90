/** The protocol library's public surface. */
export * from './bencode.js';
export * from './bep42.js';
export * from './clock.js';
export * from './compact.js';
export * from './constants.js';
export * from './errors.js';
export * from './ip.js';
export * from './krpc-message.js';
export * from './krpc-socket.js';
export * from './node-id.js';
export * from './queries.js';
export * from './random.js';
export * from './replies.js';
