export { Channel, IpcError, type ChannelOptions, type RequestHandler } from './channel.js';
export { startChild, CHILD_ENV, type ChildRuntime } from './child.js';
export { FrameDecoder, encodeFrame, DEFAULT_MAX_FRAME_BYTES } from './framing.js';
export * from './messages.js';
export * from './acme-messages.js';
export * from './dns-rfc2136.js';
export * from './acme-issuers.js';
