import {
  ListDirTool,
  ListFilesTool,
  ReadFileTool,
  SearchTextTool,
  ViewImageTool,
  WriteFileTool,
} from '#protocol/tools/files';
import { listDir } from './list-dir.ts';
import { listFiles } from './list-files.ts';
import { readFile } from './read-file.ts';
import { searchText } from './search-text.ts';
import { viewImage } from './view-image.ts';
import { writeFile } from './write-file.ts';

/** The file tools of the agent, by contract name, ready to register. */
export const fileTools = {
  read_file: { spec: ReadFileTool, handler: readFile },
  write_file: { spec: WriteFileTool, handler: writeFile },
  list_dir: { spec: ListDirTool, handler: listDir },
  list_files: { spec: ListFilesTool, handler: listFiles },
  search_text: { spec: SearchTextTool, handler: searchText },
  view_image: { spec: ViewImageTool, handler: viewImage },
} as const;
