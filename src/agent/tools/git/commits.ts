import type { GitCommit } from '#protocol/tools/git';
import { clip } from './text.ts';

/**
 * Commit fields separated by NUL, which no field can contain, and a NUL after
 * the body; `tformat` adds a newline after each commit. Dates are strict ISO 8601.
 */
const FIELDS = ['%H', '%h', '%P', '%an', '%ae', '%aI', '%cI', '%s', '%b'] as const;
export const COMMIT_FORMAT = `--format=tformat:${FIELDS.join('%x00')}%x00`;

/** Options that keep log/show output parseable whatever the repository's config says. */
export const COMMIT_FORMAT_FLAGS = [
  COMMIT_FORMAT,
  '--no-show-signature',
  '--no-notes',
  '--encoding=UTF-8',
  '--no-color',
];

const MAX_SUBJECT_CHARS = 8192;
const MAX_BODY_CHARS = 65_536;
const SHA = /^[0-9a-f]{4,64}$/;

/**
 * Parses output written with COMMIT_FORMAT. A commit cut short by the output
 * cap (or any record that does not start with an object id) ends the list.
 */
export function parseCommits(text: string): GitCommit[] {
  const tokens = text.split('\0');
  const commits: GitCommit[] = [];
  for (let start = 0; start + FIELDS.length < tokens.length; start += FIELDS.length) {
    const fields = tokens.slice(start, start + FIELDS.length);
    // Each commit after the first starts after the newline tformat put at the end of the previous one.
    const sha = (fields[0] as string).replace(/^\n/, '');
    const [, shortSha, parents, authorName, authorEmail, authorDate, committerDate, subject, rawBody] =
      fields as [string, string, string, string, string, string, string, string, string];
    if (!SHA.test(sha) || !SHA.test(shortSha)) break;
    const commit: GitCommit = {
      sha,
      short_sha: shortSha,
      parents: parents === '' ? [] : parents.split(' '),
      author_name: clip(authorName, 4096),
      author_email: clip(authorEmail, 4096),
      author_date: authorDate,
      committer_date: committerDate,
      subject: clip(subject, MAX_SUBJECT_CHARS),
    };
    const body = rawBody.replace(/\s+$/, '');
    if (body !== '') {
      commit.body = clip(body, MAX_BODY_CHARS);
      if (body.length > MAX_BODY_CHARS) commit.body_truncated = true;
    }
    commits.push(commit);
  }
  return commits;
}

/** One line for a summary: short id, date, author, subject. */
export function commitLine(commit: GitCommit): string {
  return `${commit.short_sha} ${commit.author_date.slice(0, 10)} ${commit.author_name}: ${commit.subject}`;
}
