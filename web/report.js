// Renders quantscope's report page from the JSON document embedded in it (src/report/report_data.h
// describes every field). Charts are Vega-Lite specs drawn by vega-embed as SVG; tables are plain
// HTML. When every chart has rendered (or failed), window.quantscopeReport says how many, so the
// browser test (tests/browser/report_renders.mjs) can check the page without guessing at timing.
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const sections = document.getElementById('sections');
  const pending = [];
  const state = { charts: 0, failed: [], done: false };
  window.quantscopeReport = state;

  // ---- small helpers -------------------------------------------------------------------------
  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  };
  // JSON keeps non-finite numbers as strings ("nan", "inf"): they are findings, shown as such.
  const num = (v) => (typeof v === 'number' ? v : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : NaN);
  const fmt = (v, digits = 4) => {
    const x = num(v);
    if (!Number.isFinite(x)) return String(v);
    if (x !== 0 && (Math.abs(x) >= 1e5 || Math.abs(x) < 1e-3)) return x.toExponential(2);
    return Number(x.toPrecision(digits)).toString();
  };
  const bytes = (b) => {
    const x = num(b);
    if (!(x > 0)) return '-';
    const units = [['GB', 1e9], ['MB', 1e6], ['kB', 1e3]];
    for (const [u, s] of units) if (x >= s) return (x / s).toFixed(2) + ' ' + u;
    return x + ' B';
  };
  const table = (columns, rows, rowClass) => {
    const t = el('table');
    t.append(el('tr', {}, ...columns.map((c) => el('th', {}, c.title))));
    for (const r of rows) {
      const tr = el('tr', rowClass ? { class: rowClass(r) } : {});
      for (const c of columns) tr.append(el('td', c.num ? { class: 'num' } : {}, c.get(r)));
      t.append(tr);
    }
    return t;
  };
  const section = (id, title, ...intro) => {
    const s = el('section', { id });
    s.append(el('h2', {}, title));
    for (const p of intro) s.append(el('p', { class: 'note' }, p));
    sections.append(s);
    document.getElementById('toc').append(el('a', { href: '#' + id }, title));
    return s;
  };
  const chart = (parent, name, spec, caption) => {
    const div = el('div', { class: 'chart', 'data-chart': name });
    parent.append(div);
    if (caption) parent.append(el('p', { class: 'caption' }, caption));
    state.charts += 1;
    spec.$schema = 'https://vega.github.io/schema/vega-lite/v6.json';
    pending.push(
      vegaEmbed(div, spec, { renderer: 'svg', actions: false }).catch((err) => {
        state.failed.push(name + ': ' + err);
        div.append(el('p', { class: 'nonfinite' }, 'chart failed: ' + err));
      }));
  };
  const unique = (xs) => [...new Set(xs)];
  const models = unique(data.configs.map((c) => c.model));
  const facetRow = models.length > 1 ? { row: { field: 'model', title: null } } : {};

  // ---- header ------------------------------------------------------------------------------------
  const done = data.cells.filter((c) => c.status === 'done').length;
  const refusedCells = data.cells.length - done;
  document.getElementById('summary').textContent =
    `${data.cells.length} cells from ${data.store} (${done} measured, ${refusedCells} refused), ` +
    `${unique(data.cells.map((c) => c.recipe)).length} recipes on ${unique(data.cells.map((c) => c.target)).length} ` +
    `targets; generated ${data.generated} by quantscope ${data.tool.version} (${data.tool.commit}).`;

  // ---- quality against bits, per method and target ------------------------------------------------
  const qualityKeys = unique(data.configs.flatMap((c) => Object.keys(c.quality))).sort();
  if (qualityKeys.length) {
    const s = section('quality', 'Quality against bits per weight',
      'Each point is one quantized model on one target: x is the stored bits per weight of the decoder ' +
      'linears (scales included, as the quantizer accounts them; the unquantized model sits at its ' +
      'checkpoint width), y the measured value with its standard error. Lines join one method\u2019s bit widths.');
    for (const key of qualityKeys) {
      const [task, metric] = key.split('/');
      const rows = [];
      const nonFinite = [];
      let halfBars = 0;
      for (const c of data.configs) {
        const q = c.quality[key];
        if (!q) continue;
        const v = num(q.value);
        const e = num(q.error);
        if (!Number.isFinite(v)) { nonFinite.push(`${c.recipe} on ${c.target}: ${q.value}`); continue; }
        if (metric !== 'acc' && v <= 0) continue;  // the log axis: a zero KLD (the reference itself) has no place
        // A log axis cannot place a lower bound at or below zero: that bar keeps only its upper half.
        let lo = Number.isFinite(e) ? v - e : v;
        if (metric !== 'acc' && lo <= 0) { lo = v; halfBars += 1; }
        rows.push({ model: c.model, target: c.target, method: c.method, recipe: c.recipe, bits: num(c.bits),
                    value: v, lo, hi: Number.isFinite(e) ? v + e : v });
      }
      s.append(el('h3', {}, `${metric} (task ${task})`));
      const yScale = metric === 'acc' ? { zero: false } : { type: 'log' };
      chart(s, 'quality-' + key, {
        data: { values: rows },
        facet: Object.assign({ column: { field: 'target', title: null } }, facetRow),
        spec: {
          width: 230, height: 200,
          encoding: {
            x: { field: 'bits', type: 'quantitative', title: 'bits per weight', scale: { type: 'log', base: 2 } },
            color: { field: 'method', type: 'nominal' },
          },
          layer: [
            { mark: { type: 'line', point: true },
              encoding: { y: { field: 'value', type: 'quantitative', title: metric, scale: yScale },
                          tooltip: [{ field: 'recipe' }, { field: 'bits', format: '.3f' }, { field: 'value', format: '.5g' }] } },
            { mark: 'errorbar', encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
          ],
        },
      }, [nonFinite.length ? 'Not finite (not drawn): ' + nonFinite.join('; ') + '.' : '',
          halfBars ? `${halfBars} error bars reach zero and show only their upper half (log axis).` : '']
        .filter((x) => x).join(' ') || null);
    }
  }

  // ---- KLD against bytes: the Pareto front ---------------------------------------------------------
  if (data.pareto.length) {
    const s = section('pareto', 'KLD against weight bytes: the Pareto front',
      'Weight bytes are every stored tensor in the form the target keeps it (its scale dtypes), from the ' +
      'target\u2019s roofline model; KLD is measured against the unquantized model. Filled points are on the ' +
      'front: no other recipe on that target is both smaller and closer to the reference.');
    const rows = [];
    for (const p of data.pareto) {
      const front = new Set(p.front);
      data.configs.forEach((c, i) => {
        if (c.model !== p.model || c.target !== p.target || !c.quality[p.quality]) return;
        const v = num(c.quality[p.quality].value);
        if (!Number.isFinite(v) || v <= 0 || !(num(c.weight_bytes) > 0)) return;
        rows.push({ model: c.model, target: c.target, recipe: c.recipe, method: c.method,
                    mb: num(c.weight_bytes) / 1e6, kld: v, front: front.has(i) ? 'on the front' : 'dominated' });
      });
    }
    chart(s, 'pareto', {
      data: { values: rows },
      facet: Object.assign({ column: { field: 'target', title: null } }, facetRow),
      spec: {
        width: 230, height: 200,
        layer: [
          { transform: [{ filter: "datum.front === 'on the front'" }],
            mark: { type: 'line', interpolate: 'step-after', color: '#888' },
            encoding: { x: { field: 'mb', type: 'quantitative' }, y: { field: 'kld', type: 'quantitative' } } },
          { mark: { type: 'point', size: 60 },
            encoding: {
              x: { field: 'mb', type: 'quantitative', title: 'weight MB on the target' },
              y: { field: 'kld', type: 'quantitative', title: 'KLD (nats/token)', scale: { type: 'log' } },
              color: { field: 'method', type: 'nominal' },
              fill: { condition: { test: "datum.front === 'on the front'", field: 'method', type: 'nominal' }, value: 'transparent' },
              tooltip: [{ field: 'recipe' }, { field: 'mb', format: '.3f' }, { field: 'kld', format: '.5g' }, { field: 'front' }],
            } },
        ],
      },
    });
    for (const p of data.pareto) {
      s.append(el('h3', {}, `Front on ${p.target}` + (models.length > 1 ? ` (${p.model})` : '')));
      s.append(table([
        { title: 'recipe', get: (i) => data.configs[i].recipe },
        { title: 'weight bytes', num: true, get: (i) => bytes(data.configs[i].weight_bytes) },
        { title: 'bits/weight', num: true, get: (i) => fmt(data.configs[i].bits) },
        { title: 'KLD', num: true, get: (i) => fmt(data.configs[i].quality[p.quality].value) },
        { title: '\u00b1', num: true, get: (i) => fmt(data.configs[i].quality[p.quality].error, 2) },
      ], p.front));
    }
  }

  // ---- per-layer sensitivity -------------------------------------------------------------------------
  if (data.sensitivity.length) {
    const s = section('sensitivity', 'Where it hurts: per-layer sensitivity',
      'KLD to the unquantized model when only one decoder linear (layer \u00d7 role) is quantized by the ' +
      'recipe, measured under each target\u2019s numerics. Darker is worse. Sums by attention and MLP are below.');
    const rows = data.sensitivity.filter((u) => Number.isFinite(num(u.kld))).map((u) => ({
      target: u.target, recipe: u.recipe, layer: u.layer, role: u.role, kld: Math.max(num(u.kld), 1e-9),
      error: num(u.error), block: u.attention ? 'attention' : 'MLP' }));
    chart(s, 'sensitivity', {
      data: { values: rows },
      facet: { column: { field: 'target', title: null }, row: { field: 'recipe', title: null } },
      spec: {
        width: 180, height: { step: 22 },
        mark: 'rect',
        encoding: {
          x: { field: 'role', type: 'nominal', sort: ['attn_q', 'attn_k', 'attn_v', 'attn_o', 'mlp_gate', 'mlp_up', 'mlp_down'] },
          y: { field: 'layer', type: 'ordinal' },
          color: { field: 'kld', type: 'quantitative', scale: { type: 'log', scheme: 'orangered' }, title: 'KLD' },
          tooltip: [{ field: 'layer' }, { field: 'role' }, { field: 'kld', format: '.4g' }, { field: 'error', format: '.2g' }],
        },
      },
    });
    const sums = new Map();
    for (const r of rows) {
      const k = [r.target, r.recipe, r.block].join('|');
      const v = sums.get(k) || { target: r.target, recipe: r.recipe, block: r.block, kld: 0, var: 0, n: 0 };
      v.kld += r.kld; v.var += (Number.isFinite(r.error) ? r.error * r.error : 0); v.n += 1;
      sums.set(k, v);
    }
    s.append(table([
      { title: 'target', get: (r) => r.target }, { title: 'recipe', get: (r) => r.recipe },
      { title: 'block', get: (r) => r.block }, { title: 'tensors', num: true, get: (r) => r.n },
      { title: 'sum of KLD', num: true, get: (r) => fmt(r.kld) },
      { title: '\u00b1', num: true, get: (r) => fmt(Math.sqrt(r.var), 2) },
      { title: 'per tensor', num: true, get: (r) => fmt(r.kld / r.n) },
    ], [...sums.values()].sort((a, b) => (a.target + a.recipe + a.block).localeCompare(b.target + b.recipe + b.block))));
  }

  // ---- target against target ---------------------------------------------------------------------------
  if (data.differences.length) {
    const sig = data.differences.filter((d) => d.significant);
    const s = section('targets', 'Target against target',
      `The same quantized model and task measured under two targets' numerics: ${data.differences.length} ` +
      `comparisons, ${sig.length} significant at 5% after Holm's correction over all of them. The z test takes ` +
      'the two standard errors as independent; both targets score the same tokens, so it is conservative.');
    const rows = data.differences.map((d) => ({ pair: `${d.target_b} \u2212 ${d.target_a}`, recipe: d.recipe,
      metric: `${d.task}/${d.metric}`, z: d.z, significant: d.significant ? 'significant' : 'not significant' }));
    chart(s, 'differences', {
      data: { values: rows },
      facet: { column: { field: 'metric', title: null } },
      spec: {
        width: 220, height: { step: 12 },
        mark: { type: 'point', filled: true },
        encoding: {
          y: { field: 'pair', type: 'nominal', title: null },
          x: { field: 'z', type: 'quantitative', title: 'z (difference / its standard error)' },
          color: { field: 'significant', type: 'nominal', scale: { domain: ['significant', 'not significant'], range: ['#c0392b', '#9aa3b2'] } },
          tooltip: [{ field: 'recipe' }, { field: 'pair' }, { field: 'z', format: '.2f' }],
        },
      },
    });
    s.append(table([
      { title: 'recipe', get: (d) => d.recipe }, { title: 'task/metric', get: (d) => `${d.task}/${d.metric}` },
      { title: 'target a', get: (d) => d.target_a }, { title: 'value a', num: true, get: (d) => `${fmt(d.value_a)} \u00b1 ${fmt(d.error_a, 2)}` },
      { title: 'target b', get: (d) => d.target_b }, { title: 'value b', num: true, get: (d) => `${fmt(d.value_b)} \u00b1 ${fmt(d.error_b, 2)}` },
      { title: 'b \u2212 a', num: true, get: (d) => fmt(d.diff) }, { title: 'z', num: true, get: (d) => fmt(d.z, 3) },
      { title: 'p (Holm)', num: true, get: (d) => fmt(d.p_holm, 3) },
    ], sig.length ? sig : data.differences.slice(0, 20), (d) => (d.significant ? 'significant' : '')));
    if (!sig.length) s.append(el('p', { class: 'note' }, 'No difference is significant; the first 20 comparisons are listed.'));
  }

  // ---- speed against quality ---------------------------------------------------------------------------
  const speed = data.configs.filter((c) => num(c.proj_decode_tok_s) > 0);
  const kldKey = qualityKeys.find((k) => k.endsWith('/kld'));
  if (speed.length && kldKey) {
    const s = section('speed', 'Projected speed against quality',
      'Decode tokens/s is the batch-1 roofline bound on each target (bytes moved and operations per token ' +
      'against its memory bandwidth and peaks; an upper bound, not a measurement), against the measured KLD.');
    const rows = speed.filter((c) => c.quality[kldKey] && num(c.quality[kldKey].value) > 0).map((c) => ({
      target: c.target, recipe: c.recipe, method: c.method, tok_s: num(c.proj_decode_tok_s), kld: num(c.quality[kldKey].value) }));
    chart(s, 'speed', {
      data: { values: rows },
      facet: { column: { field: 'target', title: null } },
      resolve: { scale: { x: 'independent' } },
      spec: {
        width: 230, height: 200,
        mark: { type: 'point', filled: true, size: 50 },
        encoding: {
          x: { field: 'tok_s', type: 'quantitative', title: 'decode tokens/s (roofline)', scale: { zero: false } },
          y: { field: 'kld', type: 'quantitative', title: 'KLD', scale: { type: 'log' } },
          color: { field: 'method', type: 'nominal' },
          tooltip: [{ field: 'recipe' }, { field: 'tok_s', format: '.4g' }, { field: 'kld', format: '.4g' }],
        },
      },
    });
  }

  // ---- refusals ------------------------------------------------------------------------------------------
  const s = section('refused', 'Refused recipes',
    data.refused.length ? 'What a target cannot run (or a study cannot measure), with the rule that refused it.'
                        : 'No cell was refused.');
  if (data.refused.length)
    s.append(table([{ title: 'target', get: (r) => r.target }, { title: 'recipe', get: (r) => r.recipe },
      { title: 'cells', num: true, get: (r) => r.cells }, { title: 'reason', get: (r) => r.reason }], data.refused));
  const nonFinite = data.cells.filter((c) => c.status === 'done' && c.reason);
  if (nonFinite.length) {
    s.append(el('h3', {}, 'Measured, not finite'));
    s.append(table([{ title: 'target', get: (c) => c.target }, { title: 'recipe', get: (c) => c.recipe },
      { title: 'task', get: (c) => c.task }, { title: 'reason', get: (c) => c.reason }], nonFinite));
  }

  // ---- provenance ------------------------------------------------------------------------------------------
  const p = section('provenance', 'Provenance',
    'Every number above comes from one cell of the store; each cell records the run, commit, host, start ' +
    'and end time and its peak memory. The same rows are in results.csv and report.json beside this page.');
  p.append(table([{ title: 'run', get: (r) => r.run_id }, { title: 'commit', get: (r) => r.commit },
    { title: 'host', get: (r) => r.host }, { title: 'started', get: (r) => r.started }, { title: 'ended', get: (r) => r.ended },
    { title: 'command', get: (r) => r.command_line }], data.runs));
  const details = el('details', {}, el('summary', {}, `all ${data.cells.length} cells`));
  details.append(table([
    { title: 'recipe', get: (c) => c.recipe }, { title: 'target', get: (c) => c.target }, { title: 'task', get: (c) => c.task },
    { title: 'status', get: (c) => c.status }, { title: 'metrics', num: true, get: (c) => Object.keys(c.metrics).length },
    { title: 'commit', get: (c) => c.provenance.commit }, { title: 'host', get: (c) => c.provenance.host },
    { title: 'started', get: (c) => c.provenance.started }, { title: 'wall s', num: true, get: (c) => fmt(c.provenance.wall_s, 3) },
    { title: 'key', get: (c) => c.key.slice(0, 12) }], data.cells));
  p.append(details);
  document.getElementById('footer').append(el('p', { class: 'note' },
    `Charts: ${data.chart_library} (inlined). quantscope ${data.tool.version}, commit ${data.tool.commit}.`));

  Promise.all(pending).then(() => { state.done = true; document.body.dataset.rendered = String(state.charts); });
})();
