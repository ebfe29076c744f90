import { chmod, open } from 'node:fs/promises';
import { CommandError } from './errors.js';

/**
 * Files that hold a secret (a BEP 44 signing seed, the HTTP API's key), kept as ssh keeps a
 * private key: created with mode 0600, exclusively (two commands starting at once never write
 * two different secrets), and refused when group or others have any access to them, since a
 * secret others could read is no longer one. `what` names the file in messages ("key file").
 */

/** The file's text; undefined when it does not exist. Throws a CommandError when it cannot be read or is too permissive. */
export async function readPrivateFile(path: string, what: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CommandError(`cannot read the ${what} ${path}: ${(err as Error).message}`);
  }
  try {
    // The mode of the file we hold open, not of whatever the path names a moment later.
    const { mode } = await handle.stat();
    if ((mode & 0o077) !== 0) {
      throw new CommandError(`the ${what} ${path} may be read by others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${path}`);
    }
    return await handle.readFile('utf8');
  } catch (err) {
    if (err instanceof CommandError) throw err;
    throw new CommandError(`cannot read the ${what} ${path}: ${(err as Error).message}`);
  } finally {
    await handle.close();
  }
}

/** Writes `content` to a new file of mode 0600; false (and nothing written) when the file exists already. */
export async function createPrivateFile(path: string, content: string, what: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new CommandError(`cannot create the ${what} ${path}: ${(err as Error).message}`);
  }
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
  await chmod(path, 0o600); // the umask may have taken bits away, never added: this is for clarity
  return true;
}
