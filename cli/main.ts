import { existsSync, readFileSync } from 'node:fs';
import { COMMANDS } from './command-table.js';
import { CommandError, UsageError } from './errors.js';

function version(): string {
  // cli/main.ts in the sources, dist/cli/main.js in the build: the package's root is one or two up.
  for (const up of ['../package.json', '../../package.json']) {
    const path = new URL(up, import.meta.url);
    if (!existsSync(path)) continue;
    const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version: string };
    if (pkg.name === 'dhtscope') return pkg.version;
  }
  return 'unknown';
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const list = Object.entries(COMMANDS)
    .map(([name, cmd]) => `  ${name.padEnd(width)}  ${cmd.summary}`)
    .join('\n');
  return `dhtscope ${version()}: a toolkit for the BitTorrent Mainline DHT (BEP 5)

Usage: dhtscope <command> [options]

Commands:
${list}

Options:
  -h, --help      show this help (or a command's: dhtscope <command> --help)
  -v, --version   print the version

Examples:
  dhtscope node --json
  dhtscope peers 'magnet:?xt=urn:btih:08ada5a7a6183aae1e09d831df6748d566095a10'
  dhtscope crawl --duration 600 --out crawl.ndjson
  dhtscope measure --targets 256 --sweeps 2 --duration 1800
  dhtscope testnet --nodes 2000 --infohashes 20000   # then: dhtscope crawl --bootstrap 127.20.1.1:6881

Every packet dhtscope receives goes through its own strict bencode decoder and KRPC
socket; see README.md.`;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(usage() + '\n');
    return first === undefined ? 2 : 0;
  }
  if (first === '-v' || first === '--version') {
    process.stdout.write(version() + '\n');
    return 0;
  }
  const entry = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (entry === undefined) throw new UsageError(`unknown command "${first}" (try dhtscope --help)`);
  return (await entry.load()).run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // defineCommand turns parseArgs' errors into UsageErrors.
  if (err instanceof UsageError) {
    process.stderr.write(`dhtscope: ${err.message}\n`);
    process.exitCode = 2;
  } else if (err instanceof CommandError) {
    const name = process.argv[2];
    process.stderr.write(`dhtscope${name !== undefined && Object.hasOwn(COMMANDS, name) ? ` ${name}` : ''}: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    throw err;
  }
}
