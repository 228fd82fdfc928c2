import type { ReadOutputTool } from '#protocol/tools/commands';
import type { StreamName } from '../../exec/command.ts';
import type { CommandTable } from '../../exec/table.ts';
import type { ToolHandler } from '../context.ts';
import { DEFAULT_PREVIEW_BYTES, preview } from './describe.ts';

/** read_output: pages a command's stdout or stderr by absolute byte offsets. */
export function readOutput(table: CommandTable): ToolHandler<typeof ReadOutputTool> {
  return async (_context, input) => {
    const [, id, refStream] = input.output_ref.split(':') as [string, string, StreamName | undefined];
    const stream = input.stream ?? refStream ?? 'stdout';
    const command = table.get(id);
    const buffer = command.output[stream];
    const slice = buffer.read(input.offset, input.limit);
    const isComplete = !command.isRunning && slice.nextOffset === buffer.totalBytes;
    const gap = slice.evictedGapBytes > 0 ? ` (${slice.evictedGapBytes} bytes before it were evicted)` : '';
    const data = slice.data.toString('utf8');
    const header = `${stream} of ${id}: bytes ${slice.offset}-${slice.nextOffset} of ${buffer.totalBytes}${gap}${isComplete ? ', complete' : ''}`;
    return {
      summary: `${header}${preview(stream, data, DEFAULT_PREVIEW_BYTES)}`,
      result: {
        command_id: id,
        stream,
        data,
        offset: slice.offset,
        next_offset: slice.nextOffset,
        total_bytes: buffer.totalBytes,
        evicted_gap_bytes: slice.evictedGapBytes,
        status: command.status,
        is_complete: isComplete,
      },
    };
  };
}
