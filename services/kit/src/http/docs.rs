//! `/docs`: an API browser that works offline. It renders this service's `/openapi.json` in the page
//! (no CDN, no downloaded UI bundle) and can send a request to try an endpoint.

pub(crate) const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shoplab API</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
h1{font-size:1.4rem}.op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.5rem .8rem}
.m{display:inline-block;min-width:4rem;font-weight:bold;text-transform:uppercase}
.get{color:#0a7}.put{color:#a60}.post{color:#06c}.delete{color:#c33}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:20rem}input,textarea{font:inherit;width:100%}
details summary{cursor:pointer}
</style></head><body>
<h1 id="title">shoplab API</h1><p id="desc"></p>
<p>Admin token (for admin routes): <input id="token" type="password" placeholder="SHOPLAB_ADMIN_TOKEN"></p>
<div id="ops">loading /openapi.json ...</div>
<script>
const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
fetch('openapi.json').then(r => r.json()).then(doc => {
  document.getElementById('title').textContent = doc.info.title + ' ' + doc.info.version;
  const ops = document.getElementById('ops'); ops.innerHTML = '';
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get','put','post','delete','patch'].includes(method)) continue;
      const d = document.createElement('details'); d.className = 'op';
      const params = (op.parameters || []).map(p => `<li><code>${esc(p.name)}</code> (${esc(p.in)}) ${esc(p.description)}</li>`).join('');
      d.innerHTML = `<summary><span class="m ${method}">${method}</span> <code>${esc(path)}</code> ${esc(op.summary || op.description || '')}</summary>
        <ul>${params}</ul>
        <label>URL <input class="url" value="${esc(path)}"></label>
        ${['put','post'].includes(method) ? '<label>JSON body <textarea class="body" rows="4">{}</textarea></label>' : ''}
        <button>Send</button><pre class="out"></pre>`;
      d.querySelector('button').onclick = async () => {
        const headers = {'content-type': 'application/json'};
        const t = document.getElementById('token').value; if (t) headers.authorization = 'Bearer ' + t;
        const body = d.querySelector('.body')?.value;
        const r = await fetch(d.querySelector('.url').value, {method: method.toUpperCase(), headers, body});
        d.querySelector('.out').textContent = r.status + ' ' + r.statusText + '\n' + await r.text();
      };
      ops.appendChild(d);
    }
  }
}).catch(e => { document.getElementById('ops').textContent = 'cannot load openapi.json: ' + e; });
</script></body></html>"#;
