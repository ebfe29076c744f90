/**
 * Writing XML whose text comes from the DHT. Torrent names reach us as the index's display form
 * (controls already written as `\x01`), but that form keeps what is printable yet not allowed
 * in XML 1.0 (U+FFFE, U+FFFF), and any later caller may pass raw text: a document with one such
 * character is not well-formed and a strict client (Sonarr's XDocument, expat) drops the whole
 * feed, so they are removed here, whatever the caller passes.
 */

/**
 * Everything outside XML 1.0's Char production: C0 controls but tab, newline and carriage
 * return; lone surrogates (with the `u` flag a paired surrogate is one code point and stays);
 * U+FFFE and U+FFFF.
 */
const NOT_XML_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

// Tab, newline and carriage return as references so that attribute values keep them
// (a parser normalizes literal ones to spaces in attributes).
const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' };

/** `text` without the characters XML 1.0 forbids. */
export function xmlChars(text: string): string {
  return text.replace(NOT_XML_CHAR, '');
}

/** `text` safe as element content and as an attribute value (either quote). */
export function escapeXml(text: string): string {
  return xmlChars(text).replace(/[&<>"'\t\n\r]/g, (c) => ENTITIES[c]!);
}

type Attributes = Readonly<Record<string, string | number>>;

function open(name: string, attrs: Attributes): string {
  let out = `<${name}`;
  for (const [k, v] of Object.entries(attrs)) out += ` ${k}="${escapeXml(String(v))}"`;
  return out;
}

/** `<name attrs/>`. Names are the code's own, never escaped. */
export function emptyElement(name: string, attrs: Attributes = {}): string {
  return `${open(name, attrs)}/>`;
}

/** `<name attrs>text</name>`, the text escaped. */
export function textElement(name: string, text: string | number, attrs: Attributes = {}): string {
  return `${open(name, attrs)}>${escapeXml(String(text))}</${name}>`;
}

/** `<name attrs>children</name>`: the children are XML already built with these functions. */
export function element(name: string, attrs: Attributes, children: readonly string[]): string {
  return `${open(name, attrs)}>\n${children.join('\n')}\n</${name}>`;
}

export const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';
