/**
 * A real XML parser for tests: Python's xml.etree.ElementTree (expat), which rejects what is
 * not well-formed (a forbidden character, an unescaped `<` or `&`, an undeclared prefix). No
 * XML parser is a dependency of the project; Debian's python3 is already one of the tests'.
 */
import { execFile } from 'node:child_process';

const PYTHON = '/usr/bin/python3';

/** An element: tag (namespaced ones as `torznab:attr`, `atom:link`), attributes, text (with its children's tails), children. */
export interface XmlElement {
  tag: string;
  attrs: Record<string, string>;
  text: string;
  children: XmlElement[];
}

const SCRIPT = String.raw`
import base64, json, sys
import xml.etree.ElementTree as ET
PREFIXES = {'{http://torznab.com/schemas/2015/feed}': 'torznab:', '{http://www.w3.org/2005/Atom}': 'atom:'}
def name(tag):
    for uri, prefix in PREFIXES.items():
        if tag.startswith(uri): return prefix + tag[len(uri):]
    return tag
def tree(e):
    return {'tag': name(e.tag), 'attrs': {name(k): v for k, v in e.attrib.items()},
            'text': (e.text or '') + ''.join(c.tail or '' for c in e), 'children': [tree(c) for c in e]}
out = []
for doc in json.load(sys.stdin):
    try: out.append({'tree': tree(ET.fromstring(base64.b64decode(doc)))})
    except ET.ParseError as err: out.append({'error': str(err)})
json.dump(out, sys.stdout)
`;

/** Each document's tree, or the parser's error when it is not well-formed XML; one python3 for all. */
export function parseXmlDocuments(docs: ReadonlyArray<string | Buffer>): Promise<Array<{ tree: XmlElement } | { error: string }>> {
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, ['-c', SCRIPT], { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`python3 failed: ${stderr || err.message}`));
      resolve(JSON.parse(stdout));
    });
    child.stdin!.end(JSON.stringify(docs.map((d) => Buffer.from(d).toString('base64'))));
  });
}

/** The document's tree; throws with the parser's message when it is not well-formed. */
export async function parseXml(doc: string | Buffer): Promise<XmlElement> {
  const [res] = await parseXmlDocuments([doc]);
  if (res === undefined || 'error' in res) throw new Error(`not well-formed XML: ${res?.error}\n${String(doc).slice(0, 2000)}`);
  return res.tree;
}

/** The children of `e` with this tag. */
export const childrenNamed = (e: XmlElement, tag: string): XmlElement[] => e.children.filter((c) => c.tag === tag);

/** The only child of `e` with this tag; throws when there is none or more than one. */
export function child(e: XmlElement, tag: string): XmlElement {
  const found = childrenNamed(e, tag);
  if (found.length !== 1) throw new Error(`<${e.tag}> has ${found.length} <${tag}> children, expected 1`);
  return found[0]!;
}
