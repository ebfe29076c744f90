/**
 * deploy/dhtscope.service (issue 17, item 6): a copy whose ExecStart runs this checkout passes
 * `systemd-analyze verify`, keeps its hardening, and uses only flags that `dhtscope run --help`
 * lists, so the unit cannot drift from the CLI. Broken copies (a misspelt directive, a missing
 * executable, an unknown flag) show that each check can fail.
 *
 * `systemd-analyze verify` works without systemd as PID 1: it loads the unit file and its
 * dependencies from disk. It exits 0 on mere warnings (an unknown key is one), so every line
 * that names the unit counts as a failure; `--recursive-errors=no` keeps problems of the
 * system's other units out of the exit code, and their lines (not naming ours) are only shown.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCli } from './helpers/cli.js';

const UNIT_FILE = join(ROOT, 'deploy', 'dhtscope.service');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
/** The paths the shipped unit names (deploy/README.md installs there). */
const INSTALLED_NODE = '/usr/bin/node';
const INSTALLED_CHECKOUT = '/opt/dhtscope';
const CHECKOUT = ROOT.replace(/\/+$/, '');

interface Directive {
  section: string;
  key: string;
  value: string;
  line: number;
}

/** The unit's directives in order (continuation lines joined), and the commented-out `#ExecStart=` alternatives. */
function parseUnit(text: string): { directives: Directive[]; commentedExecStarts: string[] } {
  const directives: Directive[] = [];
  const commentedExecStarts: string[] = [];
  let section = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!.trim();
    const commented = /^#\s*ExecStart=(.*)$/.exec(line);
    if (commented) {
      commentedExecStarts.push(commented[1]!.trim());
      continue;
    }
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!.trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    directives.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim(), line: start + 1 });
  }
  return { directives, commentedExecStarts };
}

function values(directives: Directive[], section: string, key: string): string[] {
  return directives.filter((d) => d.section === section && d.key === key).map((d) => d.value);
}

/** What the shipped unit must keep, each with the reason a change would matter. */
function hardeningProblems(directives: Directive[]): string[] {
  const problems: string[] = [];
  const one = (key: string): string | undefined => values(directives, 'Service', key).at(-1);
  const want = (key: string, value: string, why: string): void => {
    if (one(key) !== value) problems.push(`[Service] ${key}=${value} expected (${why}), found ${one(key) === undefined ? 'none' : `${key}=${one(key)}`}`);
  };
  want('ProtectSystem', 'strict', 'only the state directory writable');
  want('ProtectHome', 'yes', 'no access to home directories');
  want('NoNewPrivileges', 'yes', 'no setuid escalation');
  want('PrivateTmp', 'yes', 'a /tmp of its own');
  want('Restart', 'on-failure', 'a crash or an OOM kill restarts it');
  want('KillMode', 'mixed', 'SIGTERM to run alone, so its redis-server outlives its last writes');
  const user = one('User');
  if (one('DynamicUser') !== 'yes' && (user === undefined || user === '' || user === 'root' || user === '0')) {
    problems.push(`a user of its own expected (User= not root, or DynamicUser=yes), found User=${user ?? '(none)'}`);
  }
  if (one('CapabilityBoundingSet') !== '') problems.push(`CapabilityBoundingSet= (empty) expected, found ${one('CapabilityBoundingSet') ?? 'none'}`);
  const families = (one('RestrictAddressFamilies') ?? '').split(/\s+/);
  for (const family of ['AF_INET', 'AF_INET6', 'AF_UNIX', 'AF_NETLINK']) {
    // AF_NETLINK: with --api-host 0.0.0.0 Fastify lists the interfaces (getifaddrs, netlink) and run dies without it.
    if (!families.includes(family)) problems.push(`RestrictAddressFamilies= lacks ${family}`);
  }
  if (one('MemoryDenyWriteExecute') === 'yes') problems.push('MemoryDenyWriteExecute=yes: V8 needs writable executable pages for its JIT');
  if (values(directives, 'Service', 'SystemCallFilter').length > 0 && one('SystemCallErrorNumber') === undefined) {
    // V8 calls pkey_alloc at start; a filtered call would SIGSYS the process without an error number.
    problems.push('SystemCallFilter= without SystemCallErrorNumber=: a filtered call kills node instead of failing');
  }
  const execs = values(directives, 'Service', 'ExecStart');
  if (execs.length !== 1) problems.push(`one ExecStart= expected, found ${execs.length}`);
  else if (!/\bdhtscope\.mjs run\b|\bdhtscope run\b/.test(execs[0]!)) problems.push(`ExecStart does not run \`dhtscope run\`: ${execs[0]}`);
  return problems;
}

/** The unit with its installed paths pointing at this checkout and this node. */
function forThisCheckout(text: string): string {
  return text.split(INSTALLED_NODE).join(process.execPath).split(INSTALLED_CHECKOUT).join(CHECKOUT);
}

/** Every `--flag` after `run` on an ExecStart line (`--flag=value` counts as `--flag`). */
function runFlags(execStart: string): string[] {
  const words = execStart.split(/\s+/);
  const at = words.indexOf('run');
  if (at < 0) return [];
  return words
    .slice(at + 1)
    .filter((w) => w.startsWith('--'))
    .map((w) => w.split('=')[0]!);
}

function unknownFlags(execStarts: string[], helpText: string): string[] {
  const listed = new Set(helpText.match(/--[a-z0-9][a-z0-9-]*/g) ?? []);
  return execStarts.flatMap((line) => runFlags(line).filter((flag) => !listed.has(flag)).map((flag) => `${flag} (in: ${line})`));
}

interface Verify {
  code: number | null;
  output: string;
  /** Lines that name the unit file: a problem of ours, warning or error. */
  ours: string[];
}

/** `systemd-analyze verify` of `text`, written as `<tmp>/<name>`. */
function verifyUnit(t: ExecutionContext, text: string, name = 'dhtscope.service'): Verify {
  const dir = mkdtempSync(join(tmpdir(), 'dhtscope-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, text);
  const r = spawnSync(SYSTEMD_ANALYZE, ['verify', '--man=no', '--recursive-errors=no', path], {
    encoding: 'utf8',
    timeout: 30_000,
    // Messages to stderr even when this test runs under a service whose stderr is the journal.
    env: { ...process.env, SYSTEMD_LOG_TARGET: 'console', SYSTEMD_LOG_COLOR: '0', SYSTEMD_PAGER: '' },
  });
  if (r.error) throw r.error;
  const output = `${r.stdout}${r.stderr}`.trim();
  return { code: r.status, output, ours: output.split('\n').filter((l) => l.includes(name)) };
}

function verifyProblems(v: Verify): string[] {
  return [...(v.code !== 0 ? [`exit code ${v.code}`] : []), ...v.ours];
}

/** `dhtscope run --help` from the built CLI. */
async function runHelp(t: ExecutionContext): Promise<string> {
  const r = await runCli(t, ['run', '--help']);
  if (r.code !== 0) throw new Error(`dhtscope run --help exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

const shipped = readFileSync(UNIT_FILE, 'utf8');

test('deploy/dhtscope.service pointed at this checkout passes systemd-analyze verify', (t) => {
  // A unit with nothing to complain about first: if even that fails, the tool cannot verify here.
  const control = verifyUnit(t, `[Unit]\nDescription=control\n\n[Service]\nExecStart=${process.execPath} --version\n`, 'dhtscope-control.service');
  t.deepEqual(verifyProblems(control), [], `systemd-analyze cannot verify a minimal unit here:\n${control.output}`);

  const copy = forThisCheckout(shipped);
  t.false(copy.includes(INSTALLED_CHECKOUT), 'every /opt/dhtscope path is rewritten');
  const exec = values(parseUnit(copy).directives, 'Service', 'ExecStart')[0] ?? '';
  const script = exec.split(/\s+/)[1] ?? '';
  t.is(script, join(CHECKOUT, 'bin', 'dhtscope.mjs'), exec);
  t.true(existsSync(script), `${script} exists (verify checks only the executable, not its script)`);

  const v = verifyUnit(t, copy);
  t.deepEqual(verifyProblems(v), [], `systemd-analyze verify printed:\n${v.output || '(nothing)'}`);
  t.log(`systemd-analyze verify: exit ${v.code}, ${v.output === '' ? 'no output' : `output:\n${v.output}`}`);
});

test('the unit keeps its hardening, and every flag of its ExecStart lines is one `dhtscope run --help` lists', async (t) => {
  const { directives, commentedExecStarts } = parseUnit(shipped);
  t.deepEqual(hardeningProblems(directives), []);
  const execs = [...values(directives, 'Service', 'ExecStart'), ...commentedExecStarts];
  t.true(commentedExecStarts.some((l) => runFlags(l).includes('--api-host') && /--api-host 0\.0\.0\.0\b/.test(l)), 'a commented ExecStart that serves the API beyond loopback');
  const flags = execs.flatMap(runFlags);
  for (const flag of ['--data-dir', '--port']) t.true(flags.includes(flag), `${flag} on the ExecStart line`);
  t.true(/--data-dir \/var\/lib\/dhtscope\b/.test(execs[0]!) && values(directives, 'Service', 'StateDirectory')[0] === 'dhtscope', 'the data directory is the StateDirectory');
  t.deepEqual(unknownFlags(execs, await runHelp(t)), []);
});

test('a misspelt directive, a missing executable or an unknown flag is caught', async (t) => {
  const copy = forThisCheckout(shipped);

  const misspelt = copy.replace(/^ProtectSystem=strict$/m, 'ProtectSystm=strict');
  t.not(misspelt, copy);
  const v1 = verifyUnit(t, misspelt);
  t.true(
    verifyProblems(v1).some((l) => l.includes('ProtectSystm')),
    `verify must name the misspelt key; it printed:\n${v1.output || '(nothing)'}`,
  );
  t.true(
    hardeningProblems(parseUnit(misspelt).directives).some((p) => p.startsWith('[Service] ProtectSystem=strict expected')),
    'the hardening check must report the missing ProtectSystem=strict',
  );

  const missing = copy.replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/dhtscope-node');
  t.not(missing, copy);
  const v2 = verifyUnit(t, missing);
  t.not(v2.code, 0, v2.output);
  t.true(
    v2.ours.some((l) => l.includes('/nonexistent/dhtscope-node')),
    `verify must name the missing executable; it printed:\n${v2.output || '(nothing)'}`,
  );

  const drifted = parseUnit(copy.replace(/ --port 6881 /, ' --udp-port 6881 ')).directives;
  t.deepEqual(unknownFlags(values(drifted, 'Service', 'ExecStart'), await runHelp(t)), [`--udp-port (in: ${values(drifted, 'Service', 'ExecStart')[0]})`]);
});
