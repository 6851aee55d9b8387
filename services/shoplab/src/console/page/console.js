// The shoplab trainer console. Polls GET /api/state every second and draws one card per case study;
// every change goes through the console's JSON API with the admin token, and the page then shows what
// the database says (never an optimistic guess), so it always agrees with the CLI and the services.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
};

const COLUMNS = {
  rps: ['RPS', (n) => n.rps.toFixed(1)],
  p95_ms: ['p95', (n) => (n.p95_ms == null ? '—' : ms(n.p95_ms))],
  error_rate: ['errors', (n) => pct(n.error_rate)],
  queries_per_request: ['queries/req', (n) => (n.queries_per_request == null ? '—' : n.queries_per_request.toFixed(1))],
  cache_hit_rate: ['cache hit', (n) => pct(n.cache_hit_rate)],
  breaker: ['breaker', (n) => n.breaker || '—'],
  outbox_pending: ['outbox pending', (n) => (n.outbox_pending == null ? '—' : String(Math.round(n.outbox_pending)))],
};
const ms = (v) => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) + ' ms';
const pct = (v) => (v == null ? '—' : (v * 100).toFixed(v < 0.1 && v > 0 ? 1 : 0) + ' %');
const short = (flag) => flag.split('.').slice(1).join('.');
const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });
const show = (v) => (v === null || v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

const page = {
  state: null,
  token: sessionStorage.getItem('shoplab.token') || '',
  unlocked: false,
  built: false,
};

// ---- talking to the console API -------------------------------------------------------------

async function call(method, path, body) {
  const headers = {};
  if (page.token) headers.Authorization = 'Bearer ' + page.token;
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const msg = (data.error && data.error.message) || resp.status + ' ' + resp.statusText;
    if (resp.status === 401) setLocked();
    throw new Error(msg);
  }
  return data;
}

function who() {
  return $('#name').value.trim() || 'trainer';
}

async function write(method, path, body) {
  try {
    const res = await call(method, path, { ...body, by: who() });
    notice('');
    await refresh();
    return res;
  } catch (e) {
    notice(e.message);
    await refresh();
  }
}

function notice(text) {
  const n = $('#notice');
  n.textContent = text;
  n.hidden = !text;
}

// ---- token --------------------------------------------------------------------------------------

async function unlock(ev) {
  ev.preventDefault();
  page.token = $('#token').value.trim();
  try {
    await call('GET', '/api/token');
    page.unlocked = true;
    sessionStorage.setItem('shoplab.token', page.token);
    notice('');
  } catch (e) {
    page.unlocked = false;
    notice(e.message);
  }
  applyMode();
}

function setLocked() {
  page.unlocked = false;
  page.token = '';
  sessionStorage.removeItem('shoplab.token');
  applyMode();
}

function applyMode() {
  const enabled = page.state ? page.state.writes.enabled : true;
  const mode = $('#mode');
  mode.textContent = page.unlocked ? 'writes unlocked' : enabled ? 'read-only' : 'writes disabled';
  mode.className = 'badge ' + (page.unlocked ? 'unlocked' : 'locked');
  mode.title = enabled ? '' : page.state.writes.message;
  $('#token').disabled = !enabled || page.unlocked;
  $('#unlock').disabled = !enabled || page.unlocked;
  $('#lock').hidden = !page.unlocked;
  for (const c of document.querySelectorAll('[data-write]')) c.disabled = !page.unlocked;
}

// ---- cards ----------------------------------------------------------------------------------------

function buildCard(c) {
  const card = el('section', { class: 'card', id: 'case-' + c.number, 'data-case': c.number });
  card.append(
    el('header', {},
      el('h2', {}, el('span', { class: 'num', text: 'Case ' + c.number }), ' ' + c.title),
      el('nav', {},
        el('a', { class: 'dash', href: c.dashboard_url, target: '_blank', rel: 'noopener', text: 'Grafana dashboard' }),
        el('a', { class: 'trace', target: '_blank', rel: 'noopener', text: 'last trace' }))),
    buildNumbers(c),
    el('div', { class: 'presets' },
      ...c.presets.map((p) => el('button', {
        'data-write': true, 'data-preset': p.preset, text: p.label,
        onclick: () => write('POST', '/api/presets/' + encodeURIComponent(p.preset), {}),
      })),
      el('button', { class: 'step', 'data-write': true, onclick: () => write('POST', '/api/step/' + c.number, {}) }),
      el('button', {
        class: 'reset', 'data-write': true, text: 'reset',
        title: 'shoplab reset: before flags, cache emptied, queues drained, flags confirmed by every process',
        onclick: () => write('POST', '/api/reset/' + c.number, {}),
      })),
    el('ul', { class: 'levers' }, ...c.flags.map(buildFlag)),
    buildLoad(c));
  return card;
}

function buildFlag(f) {
  const w = f.widget;
  let input;
  const send = (value) => write('PUT', '/api/flags/' + encodeURIComponent(f.name), { value });
  if (w.kind === 'switch') {
    input = el('input', { type: 'checkbox', role: 'switch', class: 'toggle', 'data-write': true, 'aria-label': f.name });
    input.addEventListener('change', () => send(input.checked));
  } else if (w.kind === 'select') {
    const options = w.options.map((o) => el('option', { value: o, text: o }));
    input = el('select', { 'data-write': true, 'aria-label': f.name }, ...options);
    input.addEventListener('change', () => send(input.value));
  } else if (w.kind === 'slider') {
    input = el('input', { type: 'range', min: w.min, max: w.max, step: w.step, 'data-write': true, 'aria-label': f.name });
    input.addEventListener('input', () => { $('.val', input.parentNode).textContent = input.value; });
    input.addEventListener('change', () => send(Number(input.value)));
  } else {
    input = el('input', { type: 'number', min: w.min, max: w.max, step: w.step, 'data-write': true, 'aria-label': f.name });
    input.addEventListener('change', () => send(Number(input.value)));
  }
  // while a number is typed or a slider dragged, the once-a-second refresh must not overwrite it
  input.addEventListener('input', () => { input.dataset.editing = 'yes'; });
  for (const ev of ['change', 'blur']) input.addEventListener(ev, () => { delete input.dataset.editing; });
  const step = f.step
    ? el('span', { class: 'stepno', title: 'lever ' + f.step + ' in book order', text: String(f.step) })
    : el('span', { class: 'stepno knob', title: 'a knob, not a lever', text: '·' });
  return el('li', { class: 'flag', 'data-flag': f.name, title: f.description },
    step,
    el('span', { class: 'control' }, input, w.kind === 'slider' ? el('output', { class: 'val' }) : null),
    el('span', { class: 'meta' },
      el('code', { text: f.name }),
      el('small', { class: 'desc', text: f.chapter + ' — ' + f.description }),
      el('small', { class: 'who' }),
      f.compare ? buildCompare(f.compare) : null));
}

// The command that measures one lever alone (`shoplab lever NAME --compare`), shown on demand.
function buildCompare(command) {
  const cmd = el('code', { class: 'cmd', text: command, hidden: true });
  const button = el('button', {
    type: 'button', class: 'compare', text: 'compare command',
    title: 'measure this lever alone: its k6 scenario off, then on',
    onclick: () => { cmd.hidden = !cmd.hidden; },
  });
  return el('span', { class: 'compare-box' }, button, cmd);
}

// ---- chapter levers: the techniques of one book chapter that no case study switches -----------------

function buildChapters(chapters) {
  return [
    el('h2', {}, 'Chapter levers ',
      el('small', { text: 'one technique per chapter, measured alone with shoplab lever NAME --compare' })),
    ...chapters.map((ch) => el('div', { class: 'chapter', 'data-chapter': ch.number },
      el('h3', { text: `${ch.title} (ch. ${ch.number}; ${ch.cited} in the case studies)` }),
      el('ul', { class: 'levers' }, ...ch.flags.map(buildFlag)))),
  ];
}

function buildNumbers(c) {
  return el('div', { class: 'numbers-wrap' }, el('table', { class: 'numbers' },
    el('thead', {}, el('tr', {}, el('th', { text: 'process' }), ...c.columns.map((k) => el('th', { text: COLUMNS[k][0] })))),
    el('tbody')));
}

function buildLoad(c) {
  const rate = el('input', {
    type: 'number', min: 1, max: 100000, placeholder: 'script default', class: 'rate', 'data-write': true, 'aria-label': 'rate',
  });
  const duration = el('input', { placeholder: '60s', size: 5, class: 'duration', 'data-write': true, 'aria-label': 'duration' });
  const start = () => {
    const body = {};
    if (rate.value) body.rate = Number(rate.value);
    if (duration.value.trim()) body.duration = duration.value.trim();
    write('POST', '/api/load/' + c.number, body);
  };
  return el('div', { class: 'load' },
    el('div', { class: 'load-controls' },
      el('label', {}, 'rate/s ', rate), el('label', {}, 'duration ', duration),
      el('button', { class: 'start', 'data-write': true, text: 'start load', onclick: start }),
      el('button', { class: 'stop', 'data-write': true, text: 'stop', onclick: () => write('DELETE', '/api/load/' + c.number) }),
      el('span', { class: 'load-state', text: c.script + ': not started' })),
    el('details', { class: 'load-output' }, el('summary', { text: 'k6 output' }), el('pre')));
}

// ---- updating cards in place (keeps half-typed numbers and half-dragged sliders) -----------------------------------

function updateCard(card, c, now) {
  const trace = $('a.trace', card);
  trace.hidden = !c.trace_url;
  if (c.trace_url) { trace.href = c.trace_url; trace.title = 'trace ' + c.trace_id; }
  const step = $('button.step', card);
  step.textContent = c.next_step ? 'step to next lever: ' + short(c.next_step) : 'every lever is on';
  step.dataset.done = c.next_step ? '' : 'yes';
  for (const f of c.flags) updateFlag($(`li[data-flag="${CSS.escape(f.name)}"]`, card), f, now);
  updateNumbers($('table.numbers tbody', card), c);
  updateLoad($('.load', card), c);
}

function updateFlag(li, f, now) {
  if (!li) return;
  const input = $('input, select', li);
  if (!input.dataset.editing) {
    if (input.type === 'checkbox') input.checked = f.value === true;
    else input.value = f.value;
    const out = $('output', li);
    if (out) out.textContent = show(f.value);
  }
  const on = f.after !== null && JSON.stringify(f.value) === JSON.stringify(f.after);
  li.classList.toggle('on', on);
  li.classList.toggle('changed', JSON.stringify(f.value) !== JSON.stringify(f.default));
  const age = f.updated_at ? Math.max(0, Math.round((now - new Date(f.updated_at)) / 1000)) : null;
  $('.who', li).textContent = f.updated_by
    ? `= ${show(f.value)} · set by ${f.updated_by} ${age < 120 ? age + ' s' : Math.round(age / 60) + ' min'} ago`
    : `= ${show(f.value)} · default`;
}

function updateNumbers(tbody, c) {
  tbody.replaceChildren(...c.processes.map((p) => {
    const name = el('td', { class: 'proc', title: p.url, text: p.name });
    if (p.status !== 'up') {
      const why = p.status === 'down' ? 'down' + (p.reason ? ' (' + p.reason + ')' : '') : 'waiting…';
      const cell = el('td', { class: 'status', colspan: c.columns.length, text: why });
      return el('tr', { class: 'down', 'data-process': p.name }, name, cell);
    }
    const cells = c.columns.map((k) => {
      const v = p.numbers ? COLUMNS[k][1](p.numbers) : '…';
      return el('td', { class: k + (k === 'breaker' ? ' ' + v : '') , text: v });
    });
    return el('tr', { class: 'up ' + p.role, 'data-process': p.name }, name, ...cells);
  }));
}

function updateLoad(box, c) {
  const l = c.load;
  const state = $('.load-state', box);
  $('button.start', box).hidden = !!(l && l.state === 'running');
  $('button.stop', box).hidden = !(l && l.state === 'running');
  if (!l) { state.textContent = c.script + ': not started'; state.className = 'load-state'; return; }
  const since = 'started ' + clock(l.started_at) + ' by ' + l.started_by;
  state.textContent = l.state === 'running' ? `running ${l.script} (${since})` : `${l.message} — ${l.script}, ${since}`;
  state.className = 'load-state ' + l.state;
  $('pre', box).textContent = l.output.join('\n');
}

function updateEvents(events) {
  $('#events').replaceChildren(...events.map((e) => el('tr', {},
    el('td', { text: clock(e.at) }), el('td', {}, el('code', { text: e.name })),
    el('td', { text: show(e.old) }), el('td', { text: show(e.new) }), el('td', { class: 'actor', text: e.actor }))));
}

function render(st) {
  page.state = st;
  const root = $('#cases');
  if (!page.built) {
    root.replaceChildren(...st.cases.map(buildCard));
    $('#chapters').replaceChildren(...buildChapters(st.chapters));
    page.built = true;
  }
  const now = new Date(st.generated_at);
  for (const c of st.cases) updateCard($('#case-' + c.number, root), c, now);
  for (const ch of st.chapters) {
    const box = $(`#chapters .chapter[data-chapter="${ch.number}"]`);
    for (const f of ch.flags) updateFlag($(`li[data-flag="${CSS.escape(f.name)}"]`, box), f, now);
  }
  updateEvents(st.events);
  $('#updated').textContent = 'updated ' + clock(st.generated_at);
  applyMode();
}

async function refresh() {
  try {
    render(await call('GET', '/api/state'));
  } catch (e) {
    $('#updated').textContent = 'console unreachable: ' + e.message;
  }
}

// ---- start --------------------------------------------------------------------------------------

$('#auth').addEventListener('submit', unlock);
$('#lock').addEventListener('click', setLocked);
$('#name').value = localStorage.getItem('shoplab.name') || 'trainer';
$('#name').addEventListener('change', () => localStorage.setItem('shoplab.name', who()));
if (page.token) {
  $('#token').value = page.token;
  call('GET', '/api/token').then(() => { page.unlocked = true; applyMode(); }, () => setLocked());
}
refresh();
setInterval(refresh, 1000);
