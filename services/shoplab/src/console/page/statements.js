// The slow-query table for the Database and Storage Selection chapter: GET /api/top-queries every 5 s (the lab
// database's statements from pg_stat_statements, by total time); "reset statistics" clears them with the
// admin token the page was unlocked with. An N+1 shows as a per-item statement (`product_id = $1`) with
// about twenty times the calls of the page query above it.
'use strict';

(() => {
  const root = document.getElementById('statements');
  const state = root.querySelector('.statements-state');
  const table = root.querySelector('table');
  const cell = (text, cls) => {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  };
  const num = (v, digits) => Number(v).toLocaleString('en-US', { maximumFractionDigits: digits });

  function row(s) {
    const tr = document.createElement('tr');
    const sql = cell('', 'sql');
    const code = document.createElement('code');
    code.textContent = s.query.length > 300 ? s.query.slice(0, 300) + '…' : s.query;
    sql.append(code);
    tr.append(cell(num(s.total_ms, 1)), cell(num(s.calls, 0)), cell(num(s.mean_ms, 3)), cell(num(s.rows, 0)),
      cell((s.share * 100).toFixed(1) + ' %'), sql);
    return tr;
  }

  async function refresh() {
    try {
      const resp = await fetch('/api/top-queries?limit=10');
      const view = await resp.json();
      if (!resp.ok) throw new Error((view.error && view.error.message) || String(resp.status));
      table.hidden = !view.available || view.statements.length === 0;
      state.textContent = !view.available ? view.message
        : view.statements.length === 0 ? 'no statements since the last reset: put some load on the lab' : '';
      table.querySelector('tbody').replaceChildren(...view.statements.map(row));
    } catch (e) {
      state.textContent = 'slow-query view unavailable: ' + e.message;
    }
  }

  async function reset() {
    const token = sessionStorage.getItem('shoplab.token') || '';
    const resp = await fetch('/api/top-queries/reset', { method: 'POST', headers: { Authorization: 'Bearer ' + token } });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      state.textContent = (body.error && body.error.message) || 'reset refused: ' + resp.status;
    }
    await refresh();
  }

  root.querySelector('.statements-reset').addEventListener('click', reset);
  refresh();
  setInterval(refresh, 5000);
})();
