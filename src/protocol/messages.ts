/** Client → relay message parsing and relay → client message framing (NIP-01, NIP-45, NIP-77). */

export type ClientMessage =
  /** `eventText`: the event as the client wrote it, so it can cross to a worker thread as text. */
  | { type: 'EVENT'; event: unknown; eventText: string }
  | { type: 'REQ'; subId: string; filters: unknown[] }
  | { type: 'COUNT'; subId: string; filters: unknown[] }
  | { type: 'CLOSE'; subId: string }
  | { type: 'AUTH'; event: unknown }
  | { type: 'NEG-OPEN'; subId: string; filter: unknown; message: string }
  | { type: 'NEG-MSG'; subId: string; message: string }
  | { type: 'NEG-CLOSE'; subId: string };

/** A message the relay could not take, and the frame it answers with. */
export interface Refusal {
  reply: string;
}

export interface MessageLimits {
  maxSubidLength: number;
  maxFilters: number;
}

export const frames = {
  ok: (id: string, accepted: boolean, message: string) => JSON.stringify(['OK', id, accepted, message]),
  closed: (subId: string, message: string) => JSON.stringify(['CLOSED', subId, message]),
  notice: (message: string) => JSON.stringify(['NOTICE', message]),
  eose: (subId: string) => JSON.stringify(['EOSE', subId]),
  auth: (challenge: string) => JSON.stringify(['AUTH', challenge]),
  count: (subId: string, count: number) => JSON.stringify(['COUNT', subId, { count }]),
  /** `eventJson` is the stored canonical JSON, spliced in without re-serialising. */
  event: (subId: string, eventJson: string) => `["EVENT",${JSON.stringify(subId)},${eventJson}]`,
  negMsg: (subId: string, message: string) => JSON.stringify(['NEG-MSG', subId, message]),
  negErr: (subId: string, reason: string) => JSON.stringify(['NEG-ERR', subId, reason]),
};

/** Bytes of an RFC 6455 frame header for a payload of `n` bytes (server frames are not masked). */
const headerBytes = (n: number) => (n < 126 ? 2 : n < 65_536 ? 4 : 10);

/** Writes the header of a final, unmasked text frame carrying `n` payload bytes at `at`; returns the end. */
function writeHeader(out: Buffer, at: number, n: number): number {
  out[at] = 0x81;
  if (n < 126) {
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 65_536) {
    out[at + 1] = 126;
    out.writeUInt16BE(n, at + 2);
    return at + 4;
  }
  out[at + 1] = 127;
  out.writeBigUInt64BE(BigInt(n), at + 2);
  return at + 10;
}

/**
 * A REQ's stored answer as it goes on the wire: one WebSocket text frame (RFC 6455) per event, each
 * `["EVENT",<subId>,<json>]`, then EOSE, in one buffer of its own (transferable between threads). Built
 * where the rows are read, so the main thread writes it to the socket without touching each event.
 */
export function replyFrames(subId: string, events: readonly string[]): Uint8Array {
  const head = `["EVENT",${JSON.stringify(subId)},`;
  const eose = frames.eose(subId);
  const headLength = Buffer.byteLength(head);
  const eoseLength = Buffer.byteLength(eose);
  const sizes = events.map((json) => headLength + Buffer.byteLength(json) + 1);
  let total = headerBytes(eoseLength) + eoseLength;
  for (const n of sizes) total += headerBytes(n) + n;
  const out = Buffer.from(new ArrayBuffer(total));
  let at = 0;
  for (let i = 0; i < events.length; i++) {
    at = writeHeader(out, at, sizes[i]!);
    at += out.write(head, at);
    at += out.write(events[i]!, at);
    out[at++] = 0x5d; // closes the EVENT array (the +1 in sizes): one ASCII byte needs no string write
  }
  at = writeHeader(out, at, eoseLength);
  out.write(eose, at);
  return new Uint8Array(out.buffer);
}

/** The payload length and header bytes of the unmasked frame at `at` (as writeHeader writes them). */
function readHeader(frame: Buffer, at: number): [payload: number, header: number] {
  const n = frame[at + 1]!;
  if (n < 126) return [n, 2];
  if (n === 126) return [frame.readUInt16BE(at + 2), 4];
  return [Number(frame.readBigUInt64BE(at + 2)), 10];
}

/**
 * The same stored answer (replyFrames' output for subscription `from`) for subscription `to`: each
 * event's bytes are copied as they are, only the frame headers and subscription ids are rewritten.
 */
export function reframe(answer: Uint8Array, from: string, to: string): Uint8Array {
  if (from === to) return answer;
  const source = Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength);
  const oldHeadLength = Buffer.byteLength(`["EVENT",${JSON.stringify(from)},`);
  const newHead = `["EVENT",${JSON.stringify(to)},`;
  const newHeadLength = Buffer.byteLength(newHead);
  const eose = frames.eose(to);
  const eoseLength = Buffer.byteLength(eose);
  // Event frames (header, `["EVENT",<from>,`, the event, `]`), then the EOSE frame, the last.
  const events: [start: number, end: number][] = [];
  for (let at = 0; ;) {
    const [payload, header] = readHeader(source, at);
    const next = at + header + payload;
    if (next >= source.length) break;
    events.push([at + header + oldHeadLength, next - 1]);
    at = next;
  }
  const sizes = events.map(([start, end]) => newHeadLength + end - start + 1);
  let total = headerBytes(eoseLength) + eoseLength;
  for (const n of sizes) total += headerBytes(n) + n;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < events.length; i++) {
    const [start, end] = events[i]!;
    at = writeHeader(out, at, sizes[i]!);
    at += out.write(newHead, at);
    at += source.copy(out, at, start, end);
    out[at++] = 0x5d; // ]
  }
  at = writeHeader(out, at, eoseLength);
  out.write(eose, at);
  return out;
}

const printable = (value: unknown) => JSON.stringify(value)?.slice(0, 40) ?? String(value);

function subscriptionId(verb: string, value: unknown, limits: MessageLimits): string | Refusal {
  if (typeof value !== 'string') return { reply: frames.notice(`invalid: ${verb} subscription id must be a string`) };
  if (value.length === 0) return { reply: frames.closed(value, 'invalid: subscription id must not be empty') };
  if (value.length > limits.maxSubidLength) {
    return { reply: frames.closed(value, `invalid: subscription id is longer than ${limits.maxSubidLength} characters`) };
  }
  return value;
}

function subscriptionRequest(verb: 'REQ' | 'COUNT', msg: unknown[], limits: MessageLimits): ClientMessage | Refusal {
  const subId = subscriptionId(verb, msg[1], limits);
  if (typeof subId !== 'string') return subId;
  const filters = msg.slice(2);
  if (filters.length === 0) return { reply: frames.closed(subId, `invalid: ${verb} needs at least one filter`) };
  if (filters.length > limits.maxFilters) {
    return { reply: frames.closed(subId, `invalid: ${filters.length} filters, more than the ${limits.maxFilters} allowed`) };
  }
  return { type: verb, subId, filters };
}

const NEG_ARITY = { 'NEG-OPEN': 4, 'NEG-MSG': 3, 'NEG-CLOSE': 2 } as const;

/** NIP-77: ["NEG-OPEN", id, filter, hex], ["NEG-MSG", id, hex], ["NEG-CLOSE", id]. */
function negentropyMessage(verb: keyof typeof NEG_ARITY, msg: unknown[], limits: MessageLimits): ClientMessage | Refusal {
  const subId = subscriptionId(verb, msg[1], limits);
  if (typeof subId !== 'string') return subId;
  if (msg.length !== NEG_ARITY[verb]) {
    return { reply: frames.negErr(subId, `invalid: ${verb} takes ${NEG_ARITY[verb] - 1} values after the verb`) };
  }
  if (verb === 'NEG-CLOSE') return { type: verb, subId };
  const message = msg[msg.length - 1];
  if (typeof message !== 'string' || message.length === 0 || message.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(message)) {
    return { reply: frames.negErr(subId, `invalid: the ${verb} message must be a non-empty hex string`) };
  }
  return verb === 'NEG-OPEN' ? { type: verb, subId, filter: msg[2], message } : { type: verb, subId, message };
}

/** Parses one text frame. Returns the message, or the NOTICE/CLOSED that refuses it. */
export function parseClientMessage(text: string, limits: MessageLimits): ClientMessage | Refusal {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { reply: frames.notice('invalid: message is not valid JSON') };
  }
  if (!Array.isArray(msg) || msg.length === 0 || typeof msg[0] !== 'string') {
    return { reply: frames.notice('invalid: message must be a JSON array starting with a verb') };
  }
  switch (msg[0]) {
    case 'EVENT':
    case 'AUTH':
      if (msg.length !== 2) return { reply: frames.notice(`invalid: ${msg[0]} takes exactly one event`) };
      if (msg[0] === 'AUTH') return { type: 'AUTH', event: msg[1] };
      // Two elements, the first the string "EVENT" (which no escape can write with a comma): the
      // event is everything between the first comma and the closing bracket.
      return { type: 'EVENT', event: msg[1], eventText: text.slice(text.indexOf(',') + 1, text.lastIndexOf(']')) };
    case 'REQ':
    case 'COUNT':
      return subscriptionRequest(msg[0], msg, limits);
    case 'CLOSE': {
      if (msg.length !== 2) return { reply: frames.notice('invalid: CLOSE takes exactly one subscription id') };
      const subId = subscriptionId('CLOSE', msg[1], limits);
      return typeof subId === 'string' ? { type: 'CLOSE', subId } : subId;
    }
    case 'NEG-OPEN':
    case 'NEG-MSG':
    case 'NEG-CLOSE':
      return negentropyMessage(msg[0], msg, limits);
    default:
      return { reply: frames.notice(`unsupported: unknown message type ${printable(msg[0])}`) };
  }
}

/**
 * Finds an event id in a frame too large to parse, so an oversized EVENT can still get its OK.
 */
export function sniffEventId(text: string): string | undefined {
  if (!/^\s*\[\s*"EVENT"/.test(text)) return undefined;
  return /"id"\s*:\s*"([0-9a-f]{64})"/.exec(text)?.[1];
}
