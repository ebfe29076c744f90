import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Discovery, type DiscoverySink } from './discovery.js';

/**
 * Writes one JSON object per line. Lines are batched in memory and written in chunks, so
 * the crawl never waits on the disk; `close` flushes and resolves once the file is complete.
 */
export class NdjsonFileSink implements DiscoverySink {
  private readonly stream: WriteStream;
  private buffer: string[] = [];
  private bytes = 0;
  private failed: Error | undefined;
  written = 0;

  private constructor(readonly path: string, stream: WriteStream) {
    this.stream = stream;
    stream.on('error', (err) => (this.failed = err));
  }

  static async open(path: string, options: { append?: boolean } = {}): Promise<NdjsonFileSink> {
    await mkdir(dirname(path), { recursive: true });
    const stream = createWriteStream(path, { flags: options.append ? 'a' : 'w' });
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    return new NdjsonFileSink(path, stream);
  }

  write(event: Discovery): void {
    if (this.failed) throw this.failed;
    const line = JSON.stringify(event) + '\n';
    this.buffer.push(line);
    this.bytes += line.length;
    this.written++;
    if (this.bytes >= 64 * 1024) this.flush();
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    this.stream.write(this.buffer.join(''));
    this.buffer = [];
    this.bytes = 0;
  }

  async close(): Promise<void> {
    this.flush();
    await new Promise<void>((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
    if (this.failed) throw this.failed;
  }
}
