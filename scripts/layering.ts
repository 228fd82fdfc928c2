/**
 * The import graph of src/, read from the source text, and the two things it
 * must never have: an import from one room (a folder of src/) into a room the
 * rules of ARCHITECTURE.md do not name for it, and a cycle between files.
 * Type-only imports count: a reader follows them like any other.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export type ImportGraph = Map<string, string[]>;
export type Rules = Map<string, Set<string>>;

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*'([^']+)'|(?:^|\n)\s*import\s*'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g;

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** `#alias/*` → target pattern, from package.json#imports. */
function aliases(root: string): [string, string][] {
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    imports?: Record<string, string>;
  };
  return Object.entries(manifest.imports ?? {});
}

function resolve(
  root: string,
  from: string,
  specifier: string,
  aliasList: [string, string][],
): string | undefined {
  if (specifier.startsWith('.')) return path.relative(root, path.resolve(path.dirname(from), specifier));
  for (const [pattern, target] of aliasList) {
    const prefix = pattern.replace(/\*$/, '');
    if (pattern.endsWith('*') && specifier.startsWith(prefix)) {
      return path.normalize(target.replace('*', specifier.slice(prefix.length)));
    }
    if (specifier === pattern) return path.normalize(target);
  }
  return undefined;
}

/** Every file under src/ (paths relative to root) and the src/ files it imports. */
export function importGraph(root: string): ImportGraph {
  const aliasList = aliases(root);
  const graph: ImportGraph = new Map();
  for (const file of sourceFiles(path.join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    const targets = new Set<string>();
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2] ?? match[3];
      if (specifier === undefined) continue;
      const target = resolve(root, file, specifier, aliasList);
      if (target?.startsWith(`src${path.sep}`)) targets.add(target);
    }
    graph.set(path.relative(root, file), [...targets]);
  }
  return graph;
}

/** The room of a file: the first folder under src/. */
export function roomOf(file: string): string {
  return file.split(path.sep)[1] ?? '';
}

/**
 * The rules from the table of ARCHITECTURE.md whose header row reads
 * `| room | … | may import |`: room names in backticks in the first cell,
 * the rooms it may import in backticks in the last ('—' for none).
 */
export function rulesFrom(markdown: string): Rules {
  const rules: Rules = new Map();
  const lines = markdown.split('\n');
  const header = lines.findIndex((line) => /^\|\s*room\s*\|.*\|\s*may import\s*\|\s*$/.test(line));
  if (header === -1) throw new Error('ARCHITECTURE.md has no "| room | … | may import |" table');
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1);
    const room = /`([a-z-]+)\/?`/.exec(cells[0] ?? '')?.[1];
    if (room === undefined) continue;
    const allowed = [...(cells.at(-1) ?? '').matchAll(/`([a-z-]+)\/?`/g)].map((match) => match[1] as string);
    rules.set(room, new Set(allowed));
  }
  return rules;
}

/**
 * Each import that crosses into a room its own room may not import, or from a
 * room with no rule. Tests and their helpers (`*.test.ts`, `test-*.ts`) are
 * exempt: one may drive two rooms against each other.
 */
export function violations(graph: ImportGraph, rules: Rules): string[] {
  const found: string[] = [];
  for (const [file, targets] of graph) {
    if (file.endsWith('.test.ts') || path.basename(file).startsWith('test-')) continue;
    const room = roomOf(file);
    const allowed = rules.get(room);
    if (allowed === undefined) {
      found.push(`${file}: src/${room} is not a room of ARCHITECTURE.md`);
      continue;
    }
    for (const target of targets) {
      const targetRoom = roomOf(target);
      if (targetRoom !== room && !allowed.has(targetRoom)) {
        found.push(`${file} imports ${target}: ${room} may not import ${targetRoom}`);
      }
    }
  }
  return found;
}

/** Each cycle of imports between files, as the files in order (Tarjan's strongly connected components). */
export function cycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let counter = 0;
  const visit = (file: string): void => {
    index.set(file, counter);
    low.set(file, counter);
    counter++;
    stack.push(file);
    onStack.add(file);
    for (const target of graph.get(file) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file) as number, low.get(target) as number));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file) as number, index.get(target) as number));
      }
    }
    if (low.get(file) === index.get(file)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== file);
      if (component.length > 1 || (graph.get(file) ?? []).includes(file)) found.push(component.reverse());
    }
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}
