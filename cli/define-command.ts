import { parseArgs, type ParseArgsConfig } from 'node:util';
import { type CommandName, SUMMARIES } from './command-summaries.js';
import { parseArgsUsageError, UsageError } from './errors.js';

/** A `dhtscope <command>`, as cli/main.ts and the command table see it. */
export interface Command {
  /** One line for the command list (from command-summaries.ts). */
  summary: string;
  /** Full help text for `dhtscope <command> --help`. */
  help: string;
  /** Runs the command; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** parseArgs' option declarations (node:util does not export the type by name). */
type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

type StrictConfig<O extends ParseArgsOptionsConfig> = { args: string[]; options: O & typeof HELP_OPTION; allowPositionals: true; strict: true };

/** What a command's `run` gets: its typed option values, the positionals, and (with `forward`) the rest. */
export type ParsedArgs<O extends ParseArgsOptionsConfig> = Pick<ReturnType<typeof parseArgs<StrictConfig<O>>>, 'values' | 'positionals'> & {
  /** With `forward`: every option not in `options`, and the positionals, as given; else empty. */
  rest: string[];
};

export interface CommandSpec<O extends ParseArgsOptionsConfig> {
  /** Its key in command-summaries.ts, where its summary is. */
  name: CommandName;
  /** The full help text, printed by -h / --help (an option every command has). */
  help: string;
  /** The command's parseArgs options. Parsing is strict: an unknown option is a usage error. */
  options: O;
  /**
   * Positional arguments: none (the default), exactly one (named by its placeholder, such as
   * "<ip:port>", in the usage error), or 'any' (the command checks them itself).
   */
  args?: 'none' | 'any' | `<${string}>`;
  /** The usage error for a wrong number of arguments, where a command words it its own way. */
  argsError?: (positionals: readonly string[]) => string;
  /**
   * Options to hand on instead of checking them (migrate passes them to the migrations' own
   * parser): parsing is then not strict, and every option not in `options`, those named here
   * (so that their values parse) and unknown ones alike, goes to `rest` with the positionals,
   * for that parser to check (`args` does not apply).
   */
  forward?: ParseArgsOptionsConfig;
  run(parsed: ParsedArgs<O>): Promise<number>;
}

/**
 * A command from its spec: `run(argv)` parses argv, prints the help for -h / --help, checks the
 * number of positionals, then calls the spec's `run`. An `ERR_PARSE_ARGS_*` error thrown on the
 * way (node:util's, or a forwarded parser's) becomes a UsageError with the same message.
 */
export function defineCommand<O extends ParseArgsOptionsConfig>(spec: CommandSpec<O>): Command {
  const { name, help } = spec;
  return {
    summary: SUMMARIES[name],
    help,
    async run(argv) {
      try {
        const parsed = parse(spec, argv);
        if ((parsed.values as { help?: boolean }).help) {
          process.stdout.write(help + '\n');
          return 0;
        }
        checkArgs(spec, parsed.positionals);
        return await spec.run(parsed);
      } catch (err) {
        throw parseArgsUsageError(err);
      }
    },
  };
}

function parse<O extends ParseArgsOptionsConfig>(spec: CommandSpec<O>, argv: string[]): ParsedArgs<O> {
  const options = { ...spec.options, ...HELP_OPTION };
  if (spec.forward === undefined) {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values, positionals, rest: [] };
  }
  const { values, positionals, tokens } = parseArgs({ args: argv, options: { ...spec.forward, ...options }, strict: false, tokens: true });
  const own = new Set(Object.keys(spec.options));
  const rest: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'option' && own.has(t.name)) continue;
    if (t.kind === 'option') {
      rest.push(t.rawName);
      if (t.value !== undefined) rest.push(t.value);
    } else if (t.kind === 'positional') rest.push(t.value);
  }
  // Not strict, so an option of ours given without its value reads as `true`, as it always has.
  return { values: values as ParsedArgs<O>['values'], positionals, rest };
}

function checkArgs<O extends ParseArgsOptionsConfig>(spec: CommandSpec<O>, positionals: readonly string[]): void {
  const args = spec.args ?? 'none';
  if (args === 'any' || spec.forward !== undefined) return;
  const wanted = args === 'none' ? 0 : 1;
  if (positionals.length === wanted) return;
  const tryHelp = `(try dhtscope ${spec.name} --help)`;
  throw new UsageError(
    spec.argsError?.(positionals) ??
      (args === 'none' ? `${spec.name} takes no arguments, got "${positionals[0]}" ${tryHelp}` : `${spec.name} takes exactly one ${args} ${tryHelp}`),
  );
}
