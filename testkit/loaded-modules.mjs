// A test hook, loaded with `node --import`: on SIGUSR2 it writes the URL of every script the
// process has compiled so far (ES modules and CommonJS alike, as the inspector lists them), one
// a line, to the file that DHTSCOPE_LOADED_MODULES_FILE names. Tests use it to see which
// modules a long-lived `dhtscope` process loaded, for example that it never loaded TypeScript.
import { renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const file = process.env.DHTSCOPE_LOADED_MODULES_FILE;
if (file) {
  process.on('SIGUSR2', () => {
    const session = new Session();
    session.connect();
    const urls = new Set();
    session.on('Debugger.scriptParsed', (message) => {
      if (message.params.url) urls.add(message.params.url);
    });
    // Enabling the debugger reports every script already parsed, before its callback runs.
    session.post('Debugger.enable', () => {
      session.post('Debugger.disable');
      session.disconnect();
      writeFileSync(`${file}.partial`, [...urls].join('\n') + '\n');
      renameSync(`${file}.partial`, file);
    });
  });
}
