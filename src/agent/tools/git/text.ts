/** A string cut to at most maxChars characters, marked with an ellipsis (a commit subject, a blame line). */
export function clip(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}
