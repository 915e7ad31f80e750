export interface Summary {
  count: number;
  p50: number;
  p99: number;
  mean: number;
}

/** Percentiles by nearest rank over milliseconds. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { count: 0, p50: NaN, p99: NaN, mean: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { count: sorted.length, p50: rank(50), p99: rank(99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

export const round = (n: number, digits = 2) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : n);
