/**
 * Folds text to at most `max` characters for one-line summaries: cut at the last word boundary that
 * fits, with an ellipsis, so a reader never sees half a word (or half a number) and takes it for the
 * whole. A single word longer than the room is cut inside it, still with the ellipsis.
 */
export function foldText(text: string, max: number): string {
  if (text.length <= max) return text;
  const room = Math.max(0, max - 1);
  const head = text.slice(0, room);
  // The cut falls on a boundary when the next character is a space: keep the whole head.
  const boundary = /\s/.test(text.charAt(room)) ? room : head.search(/\s\S*$/);
  const cut = boundary > 0 ? head.slice(0, boundary) : head;
  return `${cut.replace(/[\s,;:.–—-]+$/u, "")}…`;
}

/**
 * `1 backup`, `3 backups`, `0 backups`: a count with its noun in the right number (`pluralNoun` when
 * adding an s is wrong: `indexes`, `replicas pending`). Never `backup(s)`.
 */
export function plural(count: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : pluralNoun}`;
}
