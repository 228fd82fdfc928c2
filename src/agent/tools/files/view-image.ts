import type { z } from 'zod';
import { ToolError } from '#protocol/errors';
import type { ViewImageResult, ViewImageTool } from '#protocol/tools/files';
import type { ToolHandler } from '../context.ts';
import { openRegularFile, readAt } from './file-access.ts';
import { detectImageType, readImageSize } from './image-header.ts';
import { formatBytes } from './text.ts';

const FORMAT_NAMES = { 'image/png': 'PNG', 'image/jpeg': 'JPEG', 'image/gif': 'GIF', 'image/webp': 'WebP' };

/**
 * view_image: the image bytes as base64 plus what its header says. The sandbox
 * has no image library, so nothing is ever resized: an image over the caller's
 * bounds is refused rather than sent larger than asked.
 */
export const viewImage: ToolHandler<typeof ViewImageTool> = async (context, input) => {
  const maxBytes = Math.min(input.max_bytes, context.limits.maxFileBytes);
  const file = await openRegularFile(context.workspaceRoot, input.path);
  let bytes: Buffer;
  try {
    if (file.sizeBytes > maxBytes) {
      throw new ToolError(
        'OUTPUT_TOO_LARGE',
        `${file.displayPath} is ${formatBytes(file.sizeBytes)}, over max_bytes ${formatBytes(maxBytes)}`,
        { details: { path: file.displayPath, size_bytes: file.sizeBytes, max_bytes: maxBytes } },
      );
    }
    bytes = await readAt(file.handle, 0, file.sizeBytes);
  } finally {
    await file.handle.close();
  }

  const mimeType = detectImageType(bytes);
  if (mimeType === null) {
    throw new ToolError('UNSUPPORTED_ENCODING', `${file.displayPath} is not a PNG, JPEG, GIF or WebP image`, {
      details: { path: file.displayPath, supported: Object.keys(FORMAT_NAMES) },
    });
  }
  const size = readImageSize(bytes, mimeType);
  if (size === null) {
    throw new ToolError(
      'UNSUPPORTED_ENCODING',
      `${file.displayPath} starts like a ${FORMAT_NAMES[mimeType]} image but its header is unreadable`,
      { details: { path: file.displayPath, mime_type: mimeType } },
    );
  }
  const isTooWide = input.max_width !== undefined && size.width > input.max_width;
  const isTooTall = input.max_height !== undefined && size.height > input.max_height;
  if (isTooWide || isTooTall) {
    throw new ToolError(
      'OUTPUT_TOO_LARGE',
      `${file.displayPath} is ${size.width}x${size.height}, over max_width/max_height; ` +
        'the sandbox cannot resize images: raise the bounds or resize it with a command',
      { details: { path: file.displayPath, width: size.width, height: size.height } },
    );
  }

  const result: z.input<typeof ViewImageResult> = {
    path: file.displayPath,
    mime_type: mimeType,
    width: size.width,
    height: size.height,
    size_bytes: bytes.length,
    resized: false,
    image: { data: bytes.toString('base64'), mime_type: mimeType },
  };
  if (input.auto_resize)
    result.warnings = ['auto_resize is not available in the sandbox; the image is unchanged'];
  // The MIME type, not a format name: it is what the image block carries and what a client matches on.
  const summary = `Image ${file.displayPath}: ${mimeType}, ${size.width}x${size.height}, ${formatBytes(bytes.length)}`;
  return { summary, result };
};
