import { SurveyKeys, SURVEY_NAME_PATTERN } from '../../workers/survey/survey-keys.js';
import { SurveyBusyError } from '../../workers/errors.js';
import { deleteSurvey } from '../../workers/survey/survey-delete.js';
import { readSurveyStatus, type SurveyStatus } from '../../workers/survey/survey-status.js';
import { defineCommand } from '../define-command.js';
import { CommandError, UsageError } from '../errors.js';
import { INDEX_COMMAND_OPTIONS, INDEX_OPTIONS_HELP, withIndex } from '../index-options.js';
import { count, duration } from '../status-line.js';

const help = `Usage: dhtscope survey NAME --status [--json] [--redis-url URL] [--prefix P] [--data-dir DIR]
       dhtscope survey NAME --delete [--force] [--redis-url URL] [--prefix P] [--data-dir DIR]

Shows a shared survey: the crawl of the whole ID space that every
\`dhtscope crawl --survey NAME\` process (on this machine or others, with the same Redis)
takes partitions of. Reports the partitions done, active and waiting, the nodes found and the
queries spent on them (packets per live node, as the crawlers count them), each process with
its rate and partitions, partitions that had to be started again because their process died,
and the network size the partitions' nearest nodes to fixed targets imply, with its 95%
interval.

  --status          show the survey
  --json            print one JSON object instead of text
  --delete          remove the survey's keys and its queue from Redis; what it recorded in the
                    index's survey series (GET /api/surveys, the dashboard) stays. Refused while
                    a process is crawling it (a partition active, or a process that reported in
                    the last 10 s)
  --force           delete even then: the processes still at work fail their partitions
${INDEX_OPTIONS_HELP}
  -h, --help        show this help

Exit code 0, 1 when there is no survey of that name (or it is busy), 2 on a usage error.`;

const percent = (x: number): string => `${(100 * x).toFixed(1)}%`;

function text(s: SurveyStatus): string {
  const p = s.partitions;
  const lines = [
    `survey ${s.name}: ${p.done} of ${p.total} partitions done (${percent(s.coverage)}), ${p.active} active, ${p.waiting} waiting` + (p.failed > 0 ? `, ${p.failed} FAILED` : ''),
    `  nodes         ${count(s.answered)} answered of ${count(s.known)} heard of, in the partitions done`,
    `  queries       ${count(s.queries)}` + (s.packetsPerLiveNode === null ? '' : ` (${s.packetsPerLiveNode.toFixed(2)} per node that answered)`),
    `  infohashes    ${count(s.infohashes)} (counted per partition: one seen in two partitions counts twice)`,
    `  size          ` + (s.size === null ? 'not enough partitions done yet' : `${count(Math.round(s.size.estimate))} nodes, 95% interval [${count(Math.round(s.size.low))}, ${count(Math.round(s.size.high))}] (${s.size.targets} targets)`),
    `  passed on late ${count(s.late)} contacts reached partitions already done`,
  ];
  const regions = s.results.flatMap((r) => r.sybilRegions ?? []).sort((a, b) => a.log10PValue - b.log10PValue);
  lines.push(`  Sybil regions ${regions.length === 0 ? 'none flagged' : `${regions.length}: ` + regions.slice(0, 5).map((r) => `${r.prefix || r.startId.slice(0, 8)} (${r.nodes} nodes, ${r.distinctSlash24 ?? '?'} /24)`).join(', ')}`);
  if (s.restarted.length > 0) lines.push(`  restarted     ${s.restarted.map((r) => `${r.partition} (${r.processes.join(' -> ')})`).join(', ')}`);
  lines.push(`  processes     ${s.processes.length}`);
  for (const proc of s.processes) {
    const state = proc.active.length > 0 ? `crawling ${proc.active.join(', ')}` : 'idle';
    lines.push(`    ${proc.process.padEnd(32)} ${String(proc.partitionsDone).padStart(4)} partitions  ${count(Math.round(proc.rps)).padStart(7)} RPC/s  ${state}, last seen ${duration(proc.silentMs)} ago`);
  }
  return lines.join('\n') + '\n';
}

export const surveyCommand = defineCommand({
  name: 'survey',
  help,
  args: '<NAME>',
  options: {
    status: { type: 'boolean' },
    json: { type: 'boolean' },
    delete: { type: 'boolean' },
    force: { type: 'boolean' },
    ...INDEX_COMMAND_OPTIONS,
  },
  async run({ values, positionals }) {
    const name = positionals[0]!;
    if (!SURVEY_NAME_PATTERN.test(name)) throw new UsageError(`a survey name is 1-64 letters, digits, '.', '_' or '-', got "${name}"`);
    if (values.status === true && values.delete === true) throw new UsageError('--status and --delete: one at a time');
    if (values.status !== true && values.delete !== true) throw new UsageError('say what to do: --status or --delete');
    if (values.force === true && values.delete !== true) throw new UsageError('--force goes with --delete');
    if (values.delete === true) {
      return withIndex(values, async (index) => {
        let removed: number | null;
        try {
          removed = await deleteSurvey(index.connection, new SurveyKeys(index.keys.prefix, name), { force: values.force === true });
        } catch (err) {
          if (err instanceof SurveyBusyError) throw new CommandError(`${err.message}: stop its crawl processes first, or add --force`);
          throw err;
        }
        if (removed === null) throw new CommandError(`no survey named ${name} under the prefix ${index.keys.prefix}`);
        process.stdout.write(`survey ${name} deleted: ${count(removed)} keys and its queue; its entry in the survey series stays\n`);
        return 0;
      });
    }
    return withIndex(values, async (index) => {
      const status = await readSurveyStatus(index.connection, new SurveyKeys(index.keys.prefix, name));
      if (status === null) throw new CommandError(`no survey named ${name} under the prefix ${index.keys.prefix} (start one with dhtscope crawl --survey ${name})`);
      if (values.json === true) {
        const { results, ...rest } = status;
        process.stdout.write(JSON.stringify({ ...rest, partitionResults: results.map(({ targets: _targets, ...r }) => r) }) + '\n');
      } else process.stdout.write(text(status));
      return 0;
    });
  },
});
