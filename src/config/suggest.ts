// "Did you mean": the closest known name to a misspelt one (ids, keys, kistypes).

/** The known name closest to `name` (same letters ignoring case, or at most 2 edits, scaled for short names). */
export function closest(name: string, known: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    if (k.toLowerCase() === lower) return k;
    const d = distance(k, name);
    if (d < bestD) { best = k; bestD = d; }
  }
  const allowed = Math.min(2, Math.max(1, Math.floor(name.length / 2)));
  return bestD <= allowed ? best : undefined;
}

/** ` (did you mean 'x'?)`, else the short list of what is declared, else ''. */
export function suggest(name: string, known: Iterable<string>): string {
  const list = [...known];
  const close = closest(name, list);
  if (close !== undefined) return ` (did you mean '${close}'?)`;
  return list.length > 0 && list.length <= 8 ? ` (declared: ${list.join(', ')})` : '';
}

/** Levenshtein distance. */
export function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}
