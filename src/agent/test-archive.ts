import tar from 'tar-stream';

/** One member of a hand-made test archive. */
export interface TarMember {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  data?: string;
  linkname?: string;
}

/** A tar archive of `members`, exactly as listed (hostile names included), as a byte stream. */
export async function* tarOf(members: TarMember[]): AsyncGenerator<Buffer> {
  const pack = tar.pack();
  for (const { name, type = 'file', data = '', linkname } of members) {
    const header = { name, type, ...(linkname === undefined ? {} : { linkname }) };
    if (type === 'file') pack.entry(header, data);
    else pack.entry(header);
  }
  pack.finalize();
  for await (const chunk of pack) yield chunk as Buffer;
}
