// diff.js: a line diff of two texts (longest common subsequence), for the editor's revision history.

// [{op: " " | "-" | "+", text, a, b}]: a and b are the line's numbers in the old and new text (1-based,
// null where it has none). The lines the two share at their start and end are taken out first; when
// the middles are still too big to compare (MAX_CELLS pairs of lines), the old one is shown removed
// and the new one added.
const MAX_CELLS = 4_000_000;

export function lineDiff(oldText, newText) {
  const a = oldText.split("\n"), b = newText.split("\n");
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const out = [];
  for (let i = 0; i < head; i++) out.push({ op: " ", text: a[i], a: i + 1, b: i + 1 });
  const am = a.slice(head, a.length - tail), bm = b.slice(head, b.length - tail);
  const n = am.length, m = bm.length;
  if (n * m > MAX_CELLS) {
    am.forEach((t, i) => out.push({ op: "-", text: t, a: head + i + 1, b: null }));
    bm.forEach((t, j) => out.push({ op: "+", text: t, a: null, b: head + j + 1 }));
  } else {
    // lcs[i][j]: the longest common subsequence of am[i..] and bm[j..]
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        lcs[i][j] = am[i] === bm[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && am[i] === bm[j]) { out.push({ op: " ", text: am[i], a: head + i + 1, b: head + j + 1 }); i++; j++; }
      // removals before additions, as diff(1) shows them
      else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) { out.push({ op: "-", text: am[i], a: head + i + 1, b: null }); i++; }
      else { out.push({ op: "+", text: bm[j], a: null, b: head + j + 1 }); j++; }
    }
  }
  for (let k = tail; k > 0; k--)
    out.push({ op: " ", text: a[a.length - k], a: a.length - k + 1, b: b.length - k + 1 });
  return out;
}
