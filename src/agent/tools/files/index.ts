import { bindTools } from '../context.ts';
import { listDir } from './list-dir.ts';
import { listFiles } from './list-files.ts';
import { readFile } from './read-file.ts';
import { searchText } from './search-text.ts';
import { viewImage } from './view-image.ts';
import { writeFile } from './write-file.ts';

/** The file tools of the agent, each with its descriptor. */
export const fileTools = bindTools({
  read_file: readFile,
  write_file: writeFile,
  list_dir: listDir,
  list_files: listFiles,
  search_text: searchText,
  view_image: viewImage,
});
