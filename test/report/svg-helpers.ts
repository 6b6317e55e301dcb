/** Helpers for tests that read the SVG Vega writes: the marks of one named layer. */

/** The `<path>` elements of the mark group named `name` (e.g. 'point', 'bar'), over all series. */
export function markPaths(svg: string, name: string): string[] {
  const groups = [...svg.matchAll(new RegExp(`<g class="mark-\\w+ role-mark ${name}_marks"[^>]*>(.*?)</g>`, 'g'))];
  return groups.flatMap((g) => [...g[1].matchAll(/<path [^>]*\/>/g)].map((m) => m[0]));
}

/** The translate(x, y) of a symbol path. */
export function translateOf(path: string): [number, number] {
  const m = /transform="translate\(([-\d.e]+),([-\d.e]+)\)"/.exec(path);
  if (!m) throw new Error(`no translate in ${path}`);
  return [Number(m[1]), Number(m[2])];
}

/** The texts of axis titles, in document order. */
export function axisTitles(svg: string): string[] {
  return [...svg.matchAll(/<g class="mark-text role-axis-title"[^>]*>.*?<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
}
