/* flamegraph.js: the interactive part of pyflame-c's SVG flame graphs (embedded by
 * render/svg.c; no external requests).
 *
 * The document holds one flat g element per frame, in pre-order: a title (its first
 * line is the name), a rect, maybe a text.  v = exact value, s = value of omitted
 * siblings just before the frame; the rect's row gives the depth.  From these the
 * script rebuilds the tree and lays frames out in exact arithmetic for any zoom and
 * window width.  Names are only
 * ever read from and written to the DOM as text (textContent), never parsed as markup.
 *
 * State in the URL hash: #zoom=<frame index>&s=<regex>&i=1 (restored on load).
 * API for tests and embedding: svg.pyflame = {zoom, reset, search, clearSearch, ...} on
 * the root svg element, and window.pyflame too in a standalone graph.
 *
 * Inlined in a page (a notebook output, a report), the graph keeps to itself: the
 * script defines no global, reads its elements through its own root only (ids repeat
 * when a page holds several graphs), leaves the page's URL alone, and takes Ctrl-F,
 * F3 and Escape only while the pointer or the focus is on the graph.
 */
(function () {
  'use strict';
  var svg = (document.currentScript && document.currentScript.ownerSVGElement) ||
            document.documentElement;
  function $(id) { return svg.querySelector('#' + id); }
  var NS = 'http://www.w3.org/2000/svg';
  var framesG = $('frames'), details = $('details'), matchedEl = $('matched');
  var unzoomEl = $('unzoom'), searchEl = $('search'), icEl = $('ic');
  var fh = +svg.getAttribute('data-fh'), xpad = +svg.getAttribute('data-xpad');
  var fontSize = parseFloat(svg.getAttribute('font-size')) || 12;
  var unit = svg.getAttribute('data-unit'), countname = svg.getAttribute('data-countname');
  var nodes = [], zoomed = null, searchRe = null, searchText = '', ignoreCase = false;
  var width = +svg.getAttribute('width'), charW = fontSize * 0.59;
  var truncStart = svg.getAttribute('data-trunc') === '1';
  var standalone = svg === document.documentElement, hovered = false;

  /* ---- model ---- */
  /* Frames are flat g elements in pre-order (no nesting: a deep stack must not nest
     the document 100,000 levels).  A frame's depth comes from its rect's row, and
     its parent is the last frame one row closer to the root. */
  function build() {
    var path = [], y0 = null;
    for (var el = framesG.firstElementChild; el; el = el.nextElementSibling) {
      if (el.localName !== 'g') continue;
      var n = {
        el: el, rect: null, text: null, link: null, parent: null, kids: [],
        index: nodes.length, name: '', v: +el.getAttribute('v'), start: 0, depth: 0, end: 0
      };
      for (var c = el.firstElementChild; c; c = c.nextElementSibling) {
        var ln = c.localName;
        if (ln === 'title') n.name = c.textContent.split('\n')[0];
        else if (ln === 'rect') n.rect = c;
        else if (ln === 'a') { n.link = c; n.rect = c.querySelector('rect'); }
        else if (ln === 'text') n.text = c;
      }
      if (!n.rect) continue;
      var y = +n.rect.getAttribute('y');
      if (y0 === null) y0 = y;
      var depth = Math.round(Math.abs(y - y0) / fh), parent = depth > 0 ? path[depth - 1] : null;
      if (depth > 0 && !parent) continue;           /* not a frame of this document */
      n.depth = depth;
      n.parent = parent;
      if (parent) {
        /* s: the value of omitted siblings just before this frame */
        parent.end += +(el.getAttribute('s') || 0);
        n.start = parent.end;
        parent.end += n.v;
        parent.kids.push(n);
      }
      n.end = n.start;
      path.length = depth;
      path.push(n);
      el.__pf = n;
      nodes.push(n);
    }
  }

  /* ---- formatting ---- */
  function fmtCount(v) {
    if (v !== Math.floor(v)) return String(+v.toPrecision(6));
    return Math.round(v).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }
  /* Units as formats/units.c prints them in the titles (and the HTML report): three
     significant digits, rounded once at the unit shown. */
  function sig3(v, unit) {
    return (v >= 99.95 ? v.toFixed(0) : v >= 9.995 ? v.toFixed(1) : v.toFixed(2)) + ' ' + unit;
  }
  function fmtNs(ns) {
    ns = Math.max(0, Math.round(ns));
    if (ns < 1000) return ns + ' ns';
    if (ns < 999500) return sig3(ns / 1e3, '\u00b5s');
    if (ns < 999500000) return sig3(ns / 1e6, 'ms');
    if (ns < 59950000000) return sig3(ns / 1e9, 's');
    var s = Math.floor((ns + 500000000) / 1e9);
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function fmtBytes(b) {
    b = Math.max(0, Math.round(b));
    if (b < 1024) return b + ' B';
    var units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'], v = b / 1024, u = 0;
    while (v >= 1023.5 && u + 1 < units.length) { v /= 1024; u++; }
    return sig3(v, units[u]);
  }
  function fmtValue(v) {
    if (unit === 'bytes') return fmtBytes(v);
    if (unit === 'us') return fmtNs(v * 1000);
    return fmtCount(v) + ' ' + countname;
  }
  function pct(a, b) { return b > 0 ? (100 * a / b).toFixed(2) + '%' : '0%'; }

  /* ---- layout ---- */
  function currentWidth() {
    /* standalone: the window width, without forcing a synchronous reflow */
    var w = svg === document.documentElement ? window.innerWidth : svg.getBoundingClientRect().width;
    return w > 2 * xpad + 10 ? w : width;
  }
  /* Every setter below skips unchanged values: a zoom touches only what moved. */
  function setText(n, t, x) {
    if (!t) {
      if (n.text && n.shown !== '') { n.text.textContent = ''; n.shown = ''; }
      return;
    }
    if (!n.text) {
      n.text = document.createElementNS(NS, 'text');
      var after = n.link || n.rect;
      n.el.insertBefore(n.text, after.nextSibling);
      n.text.setAttribute('y', (+n.rect.getAttribute('y') + fh / 2 + fontSize * 0.35 - 0.5).toFixed(2));
    }
    if (n.shown !== t) { n.text.textContent = t; n.shown = t; }
    var xs = (x + 3).toFixed(2);
    if (n.tx !== xs) { n.text.setAttribute('x', xs); n.tx = xs; }
  }
  function fitText(n, x, w) {
    var chars = Math.floor((w - 6) / charW);
    if (chars < 3) { setText(n, '', x); return; }
    var name = n.name, t = name;
    if (name.length > chars)
      t = truncStart ? '..' + name.slice(name.length - (chars - 2)) : name.slice(0, chars - 2) + '..';
    setText(n, t, x);
  }
  function setClass(n, cls) {
    if (n.cls !== cls) { n.el.setAttribute('class', cls); n.cls = cls; }
  }
  function place(n, x, w, cls) {
    var xs = x.toFixed(2), ws = Math.max(w, 0).toFixed(2);
    if (n.x !== xs) { n.rect.setAttribute('x', xs); n.x = xs; }
    if (n.w !== ws) { n.rect.setAttribute('width', ws); n.w = ws; }
    setClass(n, (n.m ? 'm' : '') + (cls ? (n.m ? ' ' : '') + cls : ''));
    fitText(n, x, w);
  }
  /* Frames are flat: hiding a frame hides its descendants one by one. */
  function hideAll(n) {
    var stack = [n];
    while (stack.length) {
      var x = stack.pop();
      setClass(x, (x.m ? 'm ' : '') + 'hide');
      for (var k = 0; k < x.kids.length; k++) stack.push(x.kids[k]);
    }
  }
  function layout() {
    var W = currentWidth(), avail = W - 2 * xpad;
    width = W;
    var z = zoomed || nodes[0];
    var onPath = {};
    for (var a = z; a; a = a.parent) onPath[a.index] = true;
    var scale = avail / z.v;
    var stack = [nodes[0]];
    while (stack.length) {
      var n = stack.pop();
      if (onPath[n.index] && n !== z) {
        place(n, xpad, avail, 'dim');
        for (var k = 0; k < n.kids.length; k++) {
          var c = n.kids[k];
          if (onPath[c.index]) stack.push(c);
          else hideAll(c);
        }
        continue;
      }
      place(n, xpad + (n.start - z.start) * scale, n.v * scale, '');
      for (k = 0; k < n.kids.length; k++) stack.push(n.kids[k]);
    }
    var right = W - xpad;
    icEl.setAttribute('x', right);
    searchEl.setAttribute('x', right - fontSize * 2.5);
    matchedEl.setAttribute('x', right);
    var t = $('title'), st = $('subtitle');
    if (t) t.setAttribute('x', W / 2);
    if (st) st.setAttribute('x', W / 2);
  }

  /* ---- status line ---- */
  function describe(n) {
    var z = zoomed || nodes[0];
    var s = n.name + ' (' + fmtValue(n.v) + ', ' + pct(n.v, nodes[0].v);
    if (zoomed && inSubtree(n, z) && z !== nodes[0]) s += ' of all, ' + pct(n.v, z.v) + ' of zoom';
    return s + ')';
  }
  function inSubtree(n, z) {
    for (var a = n; a; a = a.parent) if (a === z) return true;
    return false;
  }
  function status(text) { details.textContent = text || ' '; }

  /* ---- zoom ---- */
  function zoom(n) {
    if (typeof n === 'number') n = nodes[n];
    if (!n) return;
    zoomed = n === nodes[0] ? null : n;
    unzoomEl.setAttribute('class', zoomed ? 'on' : '');
    layout();
    if (searchRe) applySearch(false);
    saveState();
  }
  function reset() { zoom(nodes[0]); }

  /* ---- search ---- */
  function mark(n, m) {
    if (n.m === m) return;
    n.m = m;
    n.el.classList.toggle('m', m);
    n.cls = n.el.getAttribute('class') || '';
  }
  function applySearch(save) {
    var z = zoomed || nodes[0], total = 0, i;
    if (!searchRe) {
      for (i = 0; i < nodes.length; i++) mark(nodes[i], false);
      matchedEl.textContent = ' ';
      searchEl.setAttribute('class', '');
      if (save) saveState();
      return;
    }
    var ancestorMatch = false;
    for (var a = z.parent; a; a = a.parent) if (searchRe.test(a.name)) ancestorMatch = true;
    /* nodes are in pre-order: a match covers the next nodes deeper than it, so each
       matched value counts once; only z and its descendants count */
    var coverDepth = -1, inZ = false;
    for (i = 0; i < nodes.length; i++) {
      var n = nodes[i];
      if (n === z) inZ = true;
      else if (inZ && n.depth <= z.depth) inZ = false;
      if (coverDepth >= 0 && n.depth <= coverDepth) coverDepth = -1;
      var m = searchRe.test(n.name);
      mark(n, m);
      if (m && inZ && coverDepth < 0) { total += n.v; coverDepth = n.depth; }
    }
    if (ancestorMatch) total = z.v;
    matchedEl.textContent = 'Matched: ' + pct(Math.min(total, z.v), z.v);
    searchEl.setAttribute('class', 'on');
    if (save) saveState();
  }
  function search(text, ic) {
    if (ic !== undefined) ignoreCase = !!ic;
    icEl.setAttribute('class', ignoreCase ? 'on' : '');
    searchText = text || '';
    if (!searchText) { searchRe = null; applySearch(true); return true; }
    try {
      searchRe = new RegExp(searchText, ignoreCase ? 'i' : '');
    } catch (e) {
      searchRe = null;
      applySearch(true);
      matchedEl.textContent = 'Bad regex: ' + e.message;
      return false;
    }
    applySearch(true);
    return true;
  }
  function clearSearch() { search(''); }
  function askSearch() {
    var t = window.prompt('Search (regular expression)' + (ignoreCase ? ', ignoring case' : ''), searchText);
    if (t !== null) search(t);
  }

  /* ---- URL state ---- */
  function saveState() {
    if (!standalone) return;          /* the page's URL is the page's */
    var parts = [];
    if (zoomed) parts.push('zoom=' + zoomed.index);
    if (searchText) parts.push('s=' + encodeURIComponent(searchText));
    if (ignoreCase) parts.push('i=1');
    var h = parts.length ? '#' + parts.join('&') : '';
    try {
      history.replaceState(null, '', location.pathname + location.search + h);
    } catch (e) { /* some viewers forbid it: state just is not kept */ }
  }
  function loadState() {
    var q = standalone ? (location.hash || '').replace(/^#/, '') + '&' +
                         (location.search || '').replace(/^\?/, '') : '';
    var p = {};
    q.split('&').forEach(function (kv) {
      var i = kv.indexOf('=');
      if (i > 0) {
        try { p[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1)); } catch (e) { /* skip */ }
      }
    });
    if (p.i === '1') ignoreCase = true;
    var z = parseInt(p.zoom, 10);
    if (z > 0 && z < nodes.length) zoomed = nodes[z];
    unzoomEl.setAttribute('class', zoomed ? 'on' : '');
    layout();
    if (p.s) search(p.s, ignoreCase);
    else icEl.setAttribute('class', ignoreCase ? 'on' : '');
  }

  /* ---- keyboard focus (roving tabindex: one frame is tabbable at a time) ---- */
  var focused = null;
  function visible(n) { return n && !n.el.closest('.hide'); }
  function focusNode(n) {
    if (!visible(n)) return;
    n.el.setAttribute('tabindex', '0');
    n.el.setAttribute('aria-label', describe(n));
    n.el.focus();
    /* only now drop the old stop: un-focusing the focused element first would blur */
    if (focused && focused !== n) focused.el.setAttribute('tabindex', '-1');
    focused = n;
    status(describe(n));
  }
  function neighbour(n, dir) {
    if (!n.parent) return null;
    var sib = n.parent.kids, i = sib.indexOf(n) + dir;
    while (i >= 0 && i < sib.length && !visible(sib[i])) i += dir;
    return sib[i] || null;
  }
  function widestKid(n) {
    var best = null;
    for (var k = 0; k < n.kids.length; k++)
      if (visible(n.kids[k]) && (!best || n.kids[k].v > best.v)) best = n.kids[k];
    return best;
  }

  /* ---- events ---- */
  function frameOf(target) {
    var g = target && target.closest ? target.closest('g') : null;
    return g && g !== framesG && g.__pf ? g.__pf : null;
  }
  framesG.addEventListener('click', function (e) {
    var n = frameOf(e.target);
    if (!n) return;
    if (n.link && (e.ctrlKey || e.metaKey || e.shiftKey)) return;   /* follow the link */
    e.preventDefault();
    zoom(n);
    focusNode(n);
  });
  framesG.addEventListener('mouseover', function (e) {
    var n = frameOf(e.target);
    if (n) status(describe(n));
  });
  framesG.addEventListener('mouseout', function () { status(''); });
  framesG.addEventListener('keydown', function (e) {
    var n = frameOf(e.target);
    if (!n) return;
    var inv = svg.getAttribute('data-inverted') === '1', next = null;
    switch (e.key) {
    case 'ArrowLeft': next = neighbour(n, -1); break;
    case 'ArrowRight': next = neighbour(n, 1); break;
    case 'ArrowUp': next = inv ? n.parent : widestKid(n); break;
    case 'ArrowDown': next = inv ? widestKid(n) : n.parent; break;
    case 'Enter': case ' ':
      e.preventDefault();
      if (n.link && (e.ctrlKey || e.metaKey)) { location.href = n.link.getAttribute('href'); return; }
      zoom(n);
      focusNode(n);
      return;
    default: return;
    }
    e.preventDefault();
    if (next) focusNode(next);
  });
  [unzoomEl, searchEl, icEl].forEach(function (el) {
    el.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        el.dispatchEvent(new MouseEvent('click'));
      }
    });
  });
  unzoomEl.addEventListener('click', function () { reset(); });
  searchEl.addEventListener('click', function () {
    if (searchRe) clearSearch(); else askSearch();
  });
  icEl.addEventListener('click', function () {
    ignoreCase = !ignoreCase;
    search(searchText, ignoreCase);
  });
  svg.addEventListener('mouseenter', function () { hovered = true; });
  svg.addEventListener('mouseleave', function () { hovered = false; });
  window.addEventListener('keydown', function (e) {
    if (!standalone && !hovered && !svg.contains(document.activeElement)) return;
    if ((e.ctrlKey || e.metaKey) && (e.key === 'f' || e.key === 'F')) {
      e.preventDefault();
      askSearch();
    } else if (e.key === 'F3') {
      e.preventDefault();
      askSearch();
    } else if (e.key === 'Escape') {
      if (zoomed) reset(); else if (searchRe) clearSearch();
    }
  });
  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(layout, 60);
  });

  /* ---- start ---- */
  build();
  if (!nodes.length) return;
  /* fluid width: drop the fixed width so the graph fills the window; fonts keep size */
  if (svg === document.documentElement) {
    svg.removeAttribute('viewBox');
    svg.setAttribute('width', '100%');
  }
  /* measure the real average glyph width once */
  var probe = document.createElementNS(NS, 'text');
  probe.textContent = 'abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJ.0123456789:()/';
  framesG.appendChild(probe);
  var pw = probe.getComputedTextLength();
  if (pw > 0) charW = 1.04 * pw / probe.textContent.length;
  framesG.removeChild(probe);
  nodes[0].el.setAttribute('tabindex', '0');
  focused = nodes[0];
  loadState();
  svg.pyflame = {
    nodes: nodes, zoom: zoom, reset: reset, search: search, clearSearch: clearSearch,
    focus: function (i) { focusNode(nodes[i]); },
    layout: layout, matched: function () { return matchedEl.textContent; },
    zoomed: function () { return zoomed ? zoomed.index : 0; }
  };
  if (standalone) window.pyflame = svg.pyflame;
})();
