/* report.js: the behaviour of the pyflame-c HTML report (embedded by render/html.c):
   folding of cold source stretches, opening every folded file at once, sortable
   tables, and revealing link targets that sit inside a fold.  Everything else
   (including the rankings' time/self toggles, pure CSS) is static HTML rendered by
   the C side. */
(function () {
  'use strict';

  /* A fold is a tbody.fold holding the button, followed by the tbody.cold it hides. */
  function setFold(foldBody, open) {
    var cold = foldBody.nextElementSibling;
    if (!cold || !cold.classList.contains('cold')) return;
    cold.hidden = !open;
    foldBody.hidden = open;
  }

  function toggleAll(button) {
    var file = button.closest('details');
    var folds = file.querySelectorAll('tbody.fold');
    var open = button.getAttribute('data-open') !== '1';
    for (var i = 0; i < folds.length; i++) setFold(folds[i], open);
    button.setAttribute('data-open', open ? '1' : '0');
    button.textContent = open ? 'Fold cold lines' : 'Expand all';
  }

  /* "Open all files" opens every folded file; pressed again, folds back the ones
     the report folded (data-cold), leaving the hot ones open. */
  function toggleFiles(button) {
    var open = button.getAttribute('data-open') !== '1';
    var files = document.querySelectorAll('details.file');
    for (var i = 0; i < files.length; i++) {
      if (open && !files[i].open) { files[i].setAttribute('data-cold', '1'); files[i].open = true; }
      else if (!open && files[i].getAttribute('data-cold') === '1') files[i].open = false;
    }
    button.setAttribute('data-open', open ? '1' : '0');
    button.textContent = open ? 'Fold cold files' : 'Open all files';
  }

  function sortKey(cell, numeric) {
    if (!cell) return numeric ? 0 : '';
    if (numeric) {
      var v = Number(cell.getAttribute('data-v'));
      return isFinite(v) ? v : 0;
    }
    return cell.textContent.toLowerCase();
  }

  /* Numbers sort descending first (biggest cost on top), text ascending; the sort is
     stable, so a second column refines the first. */
  function sortBy(th) {
    var table = th.closest('table');
    var body = table.tBodies[0];
    var heads = th.parentNode.children;
    var col = Array.prototype.indexOf.call(heads, th);
    var numeric = th.getAttribute('data-sort') === 'num';
    var cur = th.getAttribute('aria-sort');
    var desc = cur ? cur !== 'descending' : numeric;
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute('aria-sort');
    th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
    var rows = [];
    for (var r = 0; r < body.rows.length; r++) {
      var row = body.rows[r];
      rows.push({ row: row, pos: r, key: sortKey(row.cells[col], numeric) });
    }
    rows.sort(function (a, b) {
      if (a.key < b.key) return desc ? 1 : -1;
      if (a.key > b.key) return desc ? -1 : 1;
      return a.pos - b.pos;
    });
    var frag = document.createDocumentFragment();
    for (var j = 0; j < rows.length; j++) frag.appendChild(rows[j].row);
    body.appendChild(frag);
  }

  document.addEventListener('click', function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    var b = t.closest('button.unfold');
    if (b) { setFold(b.closest('tbody'), true); return; }
    b = t.closest('button.unfold-all');
    if (b) { e.preventDefault(); toggleAll(b); return; }   /* do not toggle the file open or shut */
    b = t.closest('button.open-files');
    if (b) { toggleFiles(b); return; }
    var th = t.closest('table.sortable th[data-sort]');
    if (th) { sortBy(th); return; }
    var cell = t.closest('table.code tr[id] > td:first-child');
    if (cell) select(cell.parentNode);
  });

  /* Clicking a line number makes the line the page's address (a permalink for a code
     review) without scrolling, and marks it as :target would. */
  var selected = null;
  function select(row) {
    if (selected) selected.classList.remove('sel');
    selected = row;
    row.classList.add('sel');
    history.replaceState(null, '', '#' + row.id);
  }

  document.addEventListener('keydown', function (e) {
    var t = e.target;
    if ((e.key === 'Enter' || e.key === ' ') && t instanceof Element && t.matches('th[data-sort]')) {
      e.preventDefault();
      sortBy(t);
    }
  });

  /* the button does nothing without a script, so only a script shows it */
  var openFiles = document.querySelector('button.open-files');
  if (openFiles) openFiles.hidden = false;

  var heads = document.querySelectorAll('table.sortable th[data-sort]');
  for (var i = 0; i < heads.length; i++) heads[i].tabIndex = 0;

  /* A link to a line inside a fold or a closed file opens them first. */
  function reveal() {
    var id;
    try { id = decodeURIComponent(location.hash.slice(1)); } catch (err) { return; }
    var el = id ? document.getElementById(id) : null;
    if (!el) return;
    var cold = el.closest('tbody.cold');
    if (cold && cold.hidden) setFold(cold.previousElementSibling, true);
    var file = el.closest('details');
    if (file && !file.open) file.open = true;
    el.scrollIntoView({ block: 'center' });
  }
  window.addEventListener('hashchange', reveal);
  if (location.hash) reveal();
})();
