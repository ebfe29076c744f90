import test from 'ava';
import { DEFAULT_BOOTSTRAP } from '../bep5/bootstrap.js';
import { parseBootstrapOption } from '../cli/bootstrap-option.js';
import { parseInfohash } from '../cli/infohash.js';
import { UsageError } from '../cli/errors.js';

const HEX = '08ada5a7a6183aae1e09d831df6748d566095a10';
const BASE32 = 'BCW2LJ5GDA5K4HQJ3AY56Z2I2VTASWQQ'; // the same 20 bytes, RFC 4648 base32

test('40 hex characters, either case', (t) => {
  t.is(parseInfohash(HEX).infoHash.toString('hex'), HEX);
  t.is(parseInfohash(HEX.toUpperCase()).infoHash.toString('hex'), HEX);
  t.is(parseInfohash(`  ${HEX}\n`).infoHash.toString('hex'), HEX);
});

test('32 base32 characters, either case', (t) => {
  t.is(parseInfohash(BASE32).infoHash.toString('hex'), HEX);
  t.is(parseInfohash(BASE32.toLowerCase()).infoHash.toString('hex'), HEX);
});

test('magnet links with a hex or base32 btih, other parameters ignored', (t) => {
  const hex = parseInfohash(`magnet:?xt=urn:btih:${HEX}&dn=Some+Name&tr=udp%3A%2F%2Ftracker.example%3A1337`);
  t.is(hex.infoHash.toString('hex'), HEX);
  t.is(hex.displayName, 'Some Name');
  t.is(parseInfohash(`magnet:?xt=urn:btih:${BASE32}`).infoHash.toString('hex'), HEX);
  t.is(parseInfohash(`MAGNET:?dn=x&XT=URN:BTIH:${HEX.toUpperCase()}`).infoHash.toString('hex'), HEX);
  // Hybrid v1+v2 links carry both; numbered topics (xt.1) are accepted.
  t.is(parseInfohash(`magnet:?xt=urn:btmh:1220${'ab'.repeat(32)}&xt=urn:btih:${HEX}`).infoHash.toString('hex'), HEX);
  t.is(parseInfohash(`magnet:?xt.1=urn:btih:${HEX}`).infoHash.toString('hex'), HEX);
  t.is(parseInfohash(`magnet:?xt=urn:btih:${HEX}`).displayName, undefined);
});

test('anything else is a UsageError saying what was expected', (t) => {
  for (const bad of ['', 'abc', HEX.slice(1), HEX + '0', 'g' + HEX.slice(1), BASE32.slice(1), BASE32.slice(1) + '1', '0x' + HEX.slice(2)]) {
    const err = t.throws(() => parseInfohash(bad), { instanceOf: UsageError }, JSON.stringify(bad));
    t.regex(err.message, /expected an infohash \(40 hex characters or 32 base32 characters\) or a magnet link/);
  }
  t.throws(() => parseInfohash('magnet:?dn=nothing'), { instanceOf: UsageError, message: /magnet link has no infohash/ });
  t.throws(() => parseInfohash('magnet:'), { instanceOf: UsageError, message: /magnet:\?xt=urn:btih:/ });
  t.throws(() => parseInfohash(`magnet:?xt=urn:btih:${HEX.slice(2)}`), { instanceOf: UsageError, message: /40 hex or 32 base32/ });
  t.throws(() => parseInfohash(`magnet:?xt=urn:btmh:1220${'ab'.repeat(32)}`), { instanceOf: UsageError, message: /only a v2 hash.*v1 infohash/ });
});

test('--bootstrap: default routers, none, lists, and bad entries as usage errors', (t) => {
  t.deepEqual(parseBootstrapOption(undefined), { entries: [...DEFAULT_BOOTSTRAP], isDefault: true });
  t.deepEqual(parseBootstrapOption('none'), { entries: [], isDefault: false });
  t.deepEqual(parseBootstrapOption('127.0.0.1:6881, [::1]:6882,router.example.org:25401'), {
    entries: ['127.0.0.1:6881', '[::1]:6882', 'router.example.org:25401'],
    isDefault: false,
  });
  for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '::1:6881', ',', '', 'a b:1']) {
    t.throws(() => parseBootstrapOption(bad), { instanceOf: UsageError, message: /--bootstrap/ }, JSON.stringify(bad));
  }
});

test('the library parser (bep5) refuses with its own InfohashError; the CLI turns it into a usage error', async (t) => {
  const { parseInfohash: parseInLibrary } = await import('../bep5/infohash.js');
  const { InfohashError } = await import('../bep5/errors.js');
  t.is(parseInLibrary(HEX).infoHash.toString('hex'), HEX);
  const err = t.throws(() => parseInLibrary('magnet:?dn=x'), { instanceOf: InfohashError });
  t.is(err?.code, 'ERR_INFOHASH');
  t.throws(() => parseInfohash('magnet:?dn=x'), { instanceOf: UsageError, message: err?.message });
});
