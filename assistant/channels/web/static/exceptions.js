/* Exceptions board: cases as a table (grouped by type, overdue first, then oldest), and a side
 * panel with a case's detail, timeline and actions (assign, comment, resolve or dismiss). */
(function () {
  'use strict';

  const LIMIT = 200;
  const COLUMNS = 9;
  const ui = window.ErpUi;
  const el = ui.el;
  const $ = (id) => document.getElementById(id);

  let api = null;
  const state = { cases: [], total: 0, open: null, opener: null };

  /* ---------- start ---------- */

  async function main() {
    let page;
    try {
      page = await ui.startPage('/exceptions');
    } catch (err) {
      ui.pageError(err.message);
      return;
    }
    if (!page) return;
    api = page.api;
    (page.me.entities || []).forEach((entity) => $('filter-entity').append(el('option', { value: entity }, entity)));
    ['filter-status', 'filter-type', 'filter-entity', 'filter-owner'].forEach((id) =>
      $(id).addEventListener('change', loadCases));
    $('group-by-type').addEventListener('change', renderTable);
    $('filters').addEventListener('submit', (event) => { event.preventDefault(); loadCases(); });
    document.addEventListener('keydown', onKeydown);
    await loadCases();
    const wanted = new URLSearchParams(location.search).get('case');
    if (wanted) openCase(wanted, null);
  }

  function handleError(err, box) {
    if (err.status === 401) { location.replace('/signin?next=/exceptions'); return; }
    if (box) box.textContent = err.message;
    else ui.pageError(err.message);
  }

  /* ---------- the table ---------- */

  function listQuery() {
    const owner = $('filter-owner').value;
    return {
      status: $('filter-status').value,
      type: $('filter-type').value,
      entity: $('filter-entity').value,
      // The API filters by owner=me|<username>; "unassigned" is filtered here, on the page.
      owner: owner === 'unassigned' ? '' : owner,
      limit: LIMIT,
    };
  }

  async function loadCases() {
    const table = $('cases');
    table.setAttribute('aria-busy', 'true');
    try {
      const data = await api.get('/api/exceptions', listQuery());
      ui.pageError('');
      let cases = data.cases || [];
      if ($('filter-owner').value === 'unassigned') cases = cases.filter((c) => !c.owner);
      state.cases = cases;
      state.total = data.total;
      addKnownTypes(cases);
      renderTable();
    } catch (err) {
      handleError(err);
    } finally {
      table.setAttribute('aria-busy', 'false');
    }
  }

  function addKnownTypes(cases) {
    const select = $('filter-type');
    const known = new Set(Array.from(select.options).map((o) => o.value));
    cases.forEach((c) => {
      if (!known.has(c.type)) { select.append(el('option', { value: c.type }, ui.humanize(c.type))); known.add(c.type); }
    });
  }

  /** Overdue first, then the oldest. */
  function byUrgency(a, b) {
    if (a.overdue !== b.overdue) return a.overdue ? -1 : 1;
    return (b.age_days || 0) - (a.age_days || 0);
  }

  function groups(cases) {
    if (!$('group-by-type').checked) return [{ type: null, cases: cases.slice().sort(byUrgency) }];
    const byType = new Map();
    cases.forEach((c) => {
      if (!byType.has(c.type)) byType.set(c.type, []);
      byType.get(c.type).push(c);
    });
    return Array.from(byType.entries())
      .map(([type, list]) => ({ type, cases: list.sort(byUrgency) }))
      .sort((a, b) => byUrgency(a.cases[0], b.cases[0]));
  }

  function renderTable() {
    const table = $('cases');
    table.querySelectorAll('tbody').forEach((body) => body.remove());
    groups(state.cases).forEach((group) => {
      const body = el('tbody', {});
      if (group.type !== null) {
        body.append(el('tr', { class: 'group' },
          el('th', { colspan: String(COLUMNS), scope: 'rowgroup' }, ui.humanize(group.type) + ' (' + group.cases.length + ')')));
      }
      group.cases.forEach((c) => body.append(caseRow(c)));
      table.append(body);
    });
    const shown = state.cases.length;
    $('empty').hidden = shown > 0;
    $('cases-status').textContent = shown === state.total || $('filter-owner').value === 'unassigned'
      ? shown + (shown === 1 ? ' case' : ' cases')
      : 'Showing ' + shown + ' of ' + state.total + ' cases';
    markSelectedRow();
  }

  function ownerText(c) {
    if (c.owner) return c.owner;
    return c.owner_role ? 'unassigned · ' + ui.humanize(c.owner_role) : 'unassigned';
  }

  function severityBadge(severity) {
    return el('span', { class: 'badge sev-' + severity }, severity);
  }

  function caseRow(c) {
    const open = el('button', { type: 'button', class: 'link-btn case-open', on: { click: (event) => {
      event.stopPropagation();
      openCase(c.number, event.currentTarget);
    } } }, c.number);
    return el('tr', {
      dataset: { case: c.number, overdue: String(c.overdue), status: c.status },
      on: { click: (event) => { if (!event.target.closest('a, button')) openCase(c.number, open); } },
    },
    el('td', {}, open),
    el('td', {}, ui.humanize(c.type)),
    el('td', {}, c.entity),
    el('td', {}, severityBadge(c.severity)),
    el('td', {}, c.title),
    el('td', { class: 'owner' }, ownerText(c)),
    el('td', { class: 'num' }, Number(c.age_days || 0).toFixed(1)),
    el('td', { class: 'when', title: ui.formatTime(c.sla_due_at) }, ui.formatShortTime(c.sla_due_at)),
    el('td', {}, c.overdue ? el('span', { class: 'badge overdue' }, 'overdue') : null));
  }

  function markSelectedRow() {
    document.querySelectorAll('#cases tr[data-case]').forEach((row) => {
      if (row.dataset.case === state.open) row.setAttribute('aria-selected', 'true');
      else row.removeAttribute('aria-selected');
    });
  }

  /* ---------- the side detail ---------- */

  function onKeydown(event) {
    if (event.key === 'Escape' && state.open) closeCase();
  }

  function casePath(number, action) {
    return '/api/exceptions/' + encodeURIComponent(number) + (action ? '/' + action : '');
  }

  async function openCase(number, opener) {
    const aside = $('case-detail');
    state.open = number;
    state.opener = opener;
    $('board').classList.add('with-detail');
    aside.hidden = false;
    aside.replaceChildren(el('p', { class: 'muted' }, 'Loading ' + number + '…'));
    markSelectedRow();
    try {
      const detail = await api.get(casePath(number));
      if (state.open !== number) return;
      renderDetail(detail);
      $('case-title').focus();
    } catch (err) {
      aside.replaceChildren(closeButton(), el('p', { class: 'form-error' }, err.message));
      handleError(err, aside.querySelector('.form-error'));
    }
  }

  function closeCase() {
    const opener = state.opener;
    state.open = null;
    state.opener = null;
    $('case-detail').hidden = true;
    $('case-detail').replaceChildren();
    $('board').classList.remove('with-detail');
    markSelectedRow();
    const row = opener && opener.isConnected ? opener : null;
    if (row) row.focus();
    else $('main').focus();
  }

  function closeButton() {
    return el('button', { type: 'button', class: 'btn', id: 'case-close', 'aria-label': 'Close case details',
      on: { click: closeCase } }, 'Close');
  }

  function section(title, ...content) {
    return el('section', {}, el('h3', {}, title), content);
  }

  function renderDetail(d) {
    ui.fill($('case-detail'),
      el('div', { class: 'side-head' },
        el('h2', { id: 'case-title', tabindex: '-1' }, d.number + ' · ' + d.title),
        closeButton()),
      el('p', { class: 'card-meta' },
        el('span', {}, ui.humanize(d.type)), el('span', {}, d.entity), severityBadge(d.severity),
        el('span', { class: 'case-status', dataset: { status: d.status } }, ui.humanize(d.status)),
        el('span', {}, 'owner: ' + ownerText(d)),
        el('span', {}, 'SLA due ' + ui.formatTime(d.sla_due_at)),
        d.overdue ? el('span', { class: 'badge overdue' }, 'overdue') : null),
      section('Detail', el('p', { class: 'detail-text' }, d.detail || '')),
      suggestionsSection(d.suggestions || []),
      relatedSection(d.related),
      d.routing_reason ? section('Why it came here', el('p', {}, d.routing_reason)) : null,
      section('Timeline', timeline(d.events || [])),
      d.can_handle ? actions(d) : null);
  }

  function suggestionsSection(suggestions) {
    if (!suggestions.length) return null;
    return section('Suggestions', el('ul', { class: 'suggestions' }, suggestions.map((s) => el('li', {}, s.text))));
  }

  function displayValue(value) {
    if (value === null || value === undefined) return '';
    if (Array.isArray(value)) return value.map(displayValue).join(', ');
    if (typeof value === 'object') return JSON.stringify(value);
    return String(value);
  }

  function relatedSection(related) {
    const entries = Object.entries(related || {});
    if (!entries.length) return null;
    return section('Related', ui.factsList(entries.map(([label, value]) =>
      ({ label: ui.humanize(label), value: displayValue(value) }))));
  }

  function timeline(events) {
    if (!events.length) return el('p', { class: 'muted' }, 'No events yet.');
    return el('ol', { class: 'timeline' }, events.map((e) => el('li', { dataset: { kind: e.kind } },
      el('span', { class: 'when' }, ui.formatTime(e.at) + (e.by ? ' · ' + e.by : '')),
      el('strong', {}, ui.humanize(e.kind)), e.text ? ' — ' + e.text : '')));
  }

  /* ---------- actions ---------- */

  function actions(d) {
    const active = d.status === 'open' || d.status === 'assigned';
    return el('section', { class: 'actions' },
      el('h3', {}, 'Act on it'),
      assignForm(d),
      commentForm(d),
      active ? resolveForm(d) : null,
      el('p', { id: 'case-error', class: 'form-error', role: 'alert' }));
  }

  function assignForm(d) {
    const select = el('select', { id: 'assign-select' },
      (d.assignees || []).map((name) => el('option', { value: name, selected: name === d.owner }, name)));
    return el('form', { class: 'action-form', on: { submit: (event) => {
      event.preventDefault();
      act(d.number, 'assign', { assignee: select.value }, event.submitter);
    } } },
    el('label', { for: 'assign-select' }, 'Assign to'),
    el('div', { class: 'action-row' }, select, el('button', { type: 'submit', class: 'btn', id: 'assign-submit' }, 'Assign')));
  }

  function commentForm(d) {
    const text = el('textarea', { id: 'comment-text', rows: '2' });
    return el('form', { class: 'action-form', on: { submit: (event) => {
      event.preventDefault();
      if (!text.value.trim()) { showActionError('Write a comment first.', text); return; }
      act(d.number, 'comment', { text: text.value.trim() }, event.submitter);
    } } },
    el('label', { for: 'comment-text' }, 'Comment'), text,
    el('div', { class: 'action-row' }, el('button', { type: 'submit', class: 'btn', id: 'comment-submit' }, 'Add comment')));
  }

  function resolveForm(d) {
    const text = el('textarea', { id: 'resolution-text', rows: '2' });
    const submit = (dismiss) => (event) => {
      if (!text.value.trim()) { showActionError('Say how it was resolved (or why it is dismissed).', text); return; }
      act(d.number, 'resolve', { resolution: text.value.trim(), dismiss }, event.currentTarget);
    };
    return el('form', { class: 'action-form', on: { submit: (event) => event.preventDefault() } },
      el('label', { for: 'resolution-text' }, 'Resolution'), text,
      el('div', { class: 'action-row' },
        el('button', { type: 'button', class: 'btn primary', id: 'resolve-submit', on: { click: submit(false) } }, 'Resolve'),
        el('button', { type: 'button', class: 'btn', id: 'dismiss-submit', on: { click: submit(true) } }, 'Dismiss')));
  }

  function showActionError(message, field) {
    const box = $('case-error');
    if (box) box.textContent = message;
    if (field) field.focus();
  }

  async function act(number, action, body, button) {
    if (button) button.disabled = true;
    showActionError('');
    try {
      const detail = await api.post(casePath(number, action), body);
      renderDetail(detail);
      $('case-title').focus();
      loadCases();
    } catch (err) {
      handleError(err, $('case-error'));
      if (button) button.disabled = false;
    }
  }

  document.addEventListener('DOMContentLoaded', main);
})();
