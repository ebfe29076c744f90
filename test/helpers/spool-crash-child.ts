/**
 * A process that dies mid-spool: opens the spool in argv[2], appends argv[3] batches (batch i
 * holds one sample event with num = i), starts one more line but writes only half of it, and
 * SIGKILLs itself, leaving its lock and a truncated last line behind. Used by test/spool.test.ts.
 */
import { appendFileSync } from 'node:fs';
import { Spool } from '../../workers/spool.js';
import { spoolTestBatch } from './spool-batches.js';

const [dir, countArg] = process.argv.slice(2);
const spool = await Spool.open(dir!);
const count = Number(countArg);
for (let i = 0; i < count; i++) await spool.append(spoolTestBatch(i));
const last = spool.files[spool.files.length - 1]!;
const line = JSON.stringify(spoolTestBatch(count));
appendFileSync(last, line.slice(0, Math.floor(line.length / 2)));
process.kill(process.pid, 'SIGKILL');
