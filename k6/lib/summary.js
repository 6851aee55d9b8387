// A compact text summary (works offline: no remote jslib import). Prints each trend's percentiles
// and each counter/rate, plus threshold results.

function fmt(v, unit) {
  if (typeof v !== 'number') return String(v);
  if (unit === 'time') return v < 1 ? `${(v * 1000).toFixed(0)}µs` : `${v.toFixed(2)}ms`;
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}

export function textSummary(data) {
  const lines = [];
  for (const [name, m] of Object.entries(data.metrics).sort()) {
    const unit = m.contains === 'time' ? 'time' : '';
    const vals = Object.entries(m.values).map(([k, v]) => `${k}=${fmt(v, unit)}`).join(' ');
    const th = m.thresholds
      ? ' ' + Object.entries(m.thresholds).map(([t, r]) => `${r.ok ? 'ok' : 'FAILED'}(${t})`).join(' ')
      : '';
    lines.push(`${name.padEnd(40)} ${vals}${th}`);
  }
  return lines.join('\n') + '\n';
}
