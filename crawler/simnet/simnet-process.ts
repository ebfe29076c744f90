/**
 * The simulated DHT in a process of its own (issue 15), so that the crawler under test has a
 * core to itself: forked by simnet.ts, it builds the Population, starts the Simulator on
 * loopback and answers the parent over IPC (the messages are in simnet.ts).
 */
import { Population } from './population.js';
import { type FromSimnet, type SimnetOptions, type ToSimnet } from './simnet.js';
import { Simulator } from './simulator.js';

const send = (m: FromSimnet): void => void process.send?.(m);

let simulator: Simulator | null = null;
let population: Population | null = null;
/** Added to the time since start by 'advance' (Simnet.advance). */
let advancedMs = 0;
let startedAt = 0;
const elapsedMs = (): number => Date.now() - startedAt + advancedMs;

process.on('message', (m: ToSimnet) => {
  void (async () => {
    try {
      if (m.type === 'start') {
        const started = performance.now();
        population = new Population(m.options as SimnetOptions);
        startedAt = Date.now();
        simulator = await Simulator.start({ population, host: m.host, elapsedMs, ...(m.recvBufferSize === undefined ? {} : { recvBufferSize: m.recvBufferSize }) });
        const bootstrap = population.bootstrap(8).map((j) => {
          const a = population!.address(j);
          return { host: Population.dotted(a.ip), port: a.port };
        });
        send({ type: 'ready', address: simulator.address, bootstrap, buildMs: performance.now() - started, bytes: population.bytes });
      } else if (m.type === 'report') {
        if (simulator === null) throw new Error('not started');
        send({ type: 'report', coverage: simulator.coverage(), packets: simulator.packetsToNodes(), stats: simulator.stats() });
      } else if (m.type === 'advance') {
        if (!(Number.isFinite(m.ms) && m.ms >= 0)) throw new RangeError(`advance needs a finite ms >= 0, got ${m.ms}`);
        advancedMs += m.ms;
        send({ type: 'advanced', elapsedMs: elapsedMs() });
      } else if (m.type === 'stop') {
        await simulator?.close();
        send({ type: 'stopped' });
        process.disconnect?.();
      }
    } catch (err) {
      send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  })();
});
// The parent gone: nothing left to serve.
process.on('disconnect', () => {
  void simulator?.close().finally(() => process.exit(0));
  if (simulator === null) process.exit(0);
});
