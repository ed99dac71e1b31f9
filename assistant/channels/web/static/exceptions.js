/* Exceptions board: cases as a table (grouped by type, the highest priority first), and a side
 * panel with a case's detail, timeline and actions (assign, comment, resolve or dismiss).
 * A finding's proposed draft opens as the person's own preview (exactly what POST /api/drafts gives) with a
 * Confirm button; several selected proposals are previewed together, then confirmed one by one, each judged
 * by the policy on its own, and the result of each is listed. */
(function () {
  'use strict';

  const LIMIT = 200;
  const COLUMNS = 10;
  const ui = window.ErpUi;
  const el = ui.el;
  const $ = (id) => document.getElementById(id);

  let api = null;
  const state = { cases: [], total: 0, open: null, opener: null, selected: new Set() };

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
    $('bulk-accept').addEventListener('click', previewSelected);
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
      const proposing = new Set(cases.filter((c) => c.proposal).map((c) => c.number));
      state.selected.forEach((number) => { if (!proposing.has(number)) state.selected.delete(number); });
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

  /** The highest priority first (business impact, as the server ranked it); without one, overdue then oldest. */
  function byUrgency(a, b) {
    if (a.priority != null && b.priority != null && a.priority !== b.priority) return b.priority - a.priority;
    if (a.overdue !== b.overdue) return a.overdue ? -1 : 1;
    return (b.age_days || 0) - (a.age_days || 0);
  }

  /** "priority 57.2: value 40 (USD 9,999.00 at risk), sla 15 (due in 5 h)": why the case stands where it does. */
  function priorityText(c) {
    if (c.priority == null) return null;
    const parts = (c.factors || []).filter((f) => f.score).map((f) => f.name + ' ' + f.score + ' (' + f.basis + ')');
    return 'priority ' + c.priority + (parts.length ? ': ' + parts.join(', ') : '');
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
    renderBulkBar();
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
      dataset: { case: c.number, overdue: String(c.overdue), status: c.status, priority: String(c.priority ?? '') },
      on: { click: (event) => { if (!event.target.closest('a, button, input')) openCase(c.number, open); } },
    },
    el('td', {}, proposalCheckbox(c)),
    el('td', {}, open),
    el('td', {}, ui.humanize(c.type)),
    el('td', {}, c.entity),
    el('td', {}, severityBadge(c.severity)),
    el('td', { title: priorityText(c) }, c.title),
    el('td', { class: 'owner' }, ownerText(c)),
    el('td', { class: 'num' }, Number(c.age_days || 0).toFixed(1)),
    el('td', { class: 'when', title: ui.formatTime(c.sla_due_at) }, ui.formatShortTime(c.sla_due_at)),
    el('td', {}, c.overdue ? el('span', { class: 'badge overdue' }, 'overdue') : null));
  }

  function proposalCheckbox(c) {
    if (!c.proposal) return null;
    return el('input', { type: 'checkbox', class: 'proposal-select', checked: state.selected.has(c.number),
      dataset: { case: c.number }, 'aria-label': 'Select the proposal of ' + c.number + ': ' + c.proposal,
      on: { change: (event) => {
        if (event.currentTarget.checked) state.selected.add(c.number);
        else state.selected.delete(c.number);
        renderBulkBar();
      } } });
  }

  function renderBulkBar() {
    const n = state.selected.size;
    $('bulk-accept').disabled = n === 0;
    $('bulk-accept').textContent = n ? 'Accept ' + n + ' selected proposal' + (n === 1 ? '' : 's') : 'Accept selected proposals';
    $('bulk-count').textContent = state.cases.some((c) => c.proposal)
      ? (n ? n + ' selected' : 'Select proposals to accept them together') : '';
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
      proposalSection(d),
      evidenceSection((d.related || {}).evidence),
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
    // The proposal and the evidence have their own sections.
    const entries = Object.entries(related || {}).filter(([key]) => key !== 'proposal' && key !== 'evidence');
    if (!entries.length) return null;
    return section('Related', ui.factsList(entries.map(([label, value]) =>
      ({ label: ui.humanize(label), value: displayValue(value) }))));
  }

  /* ---------- a finding's evidence and proposed draft ---------- */

  function evidenceSection(evidence) {
    const entries = Object.entries(evidence || {});
    if (!entries.length) return null;
    return section('Evidence', el('table', { class: 'evidence', id: 'case-evidence' },
      el('caption', { class: 'sr-only' }, 'The figures behind this finding'),
      el('tbody', {}, entries.map(([name, value]) => el('tr', {},
        el('th', { scope: 'row' }, ui.humanize(name)), el('td', { class: 'num' }, displayValue(value)))))));
  }

  function proposalLines(lines) {
    if (!Array.isArray(lines) || !lines.length) return null;
    const columns = Array.from(new Set(lines.flatMap((line) => Object.keys(line || {}))));
    return el('table', { class: 'proposal-lines' },
      el('caption', { class: 'sr-only' }, 'Lines of the proposed draft'),
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col' }, ui.humanize(c))))),
      el('tbody', {}, lines.map((line) => el('tr', {}, columns.map((c) => el('td', {}, displayValue(line[c])))))));
  }

  function proposalSection(d) {
    const proposal = (d.related || {}).proposal;
    const active = d.status === 'open' || d.status === 'assigned';
    if (!proposal || !active) return null;
    const payload = proposal.payload || {};
    const where = Object.entries(payload).filter(([key, value]) => key !== 'lines' && typeof value !== 'object');
    const button = el('button', { type: 'button', class: 'btn primary', id: 'proposal-open',
      on: { click: (event) => openProposal(d.number, event.currentTarget) } }, 'Open proposed draft');
    return el('section', { class: 'proposal', id: 'case-proposal' },
      el('h3', {}, 'Proposed draft'),
      el('p', { class: 'proposal-summary' }, proposal.summary || ui.humanize(proposal.kind)),
      ui.factsList([{ label: 'kind', value: ui.humanize(proposal.kind) },
        ...where.map(([key, value]) => ({ label: ui.humanize(key), value: displayValue(value) }))]),
      proposalLines(payload.lines),
      el('p', { class: 'muted small' }, 'Opening it makes it your draft and shows exactly what it would change; ' +
        'nothing changes until you confirm it, and then the policy decides.'),
      button,
      el('div', { id: 'proposal-preview', 'aria-live': 'polite' }),
      el('p', { id: 'proposal-error', class: 'form-error', role: 'alert' }));
  }

  async function openProposal(number, button) {
    button.disabled = true;
    $('proposal-error').textContent = '';
    try {
      const draft = await api.post(casePath(number, 'proposal'));
      ui.fill($('proposal-preview'), draftPreview(draft, (confirmed) => ui.fill($('proposal-preview'),
        draftPreview(confirmed, null)), $('proposal-error')));
      loadCases();
    } catch (err) {
      handleError(err, $('proposal-error'));
      button.disabled = false;
    }
  }

  /** A draft as its preview (or, once confirmed, its result); `onConfirmed` given: with a Confirm button. */
  function draftPreview(draft, onConfirmed, errorBox) {
    const unconfirmed = draft.status === 'unconfirmed';
    const decision = unconfirmed ? 'If confirmed: ' + draft.explanation : draft.explanation;
    const confirm = onConfirmed && draft.can_confirm
      ? el('button', { type: 'button', class: 'btn primary proposal-confirm', on: { click: async (event) => {
        event.currentTarget.disabled = true;
        try {
          onConfirmed(await api.post('/api/drafts/' + encodeURIComponent(draft.number) + '/confirm'));
          loadCases();
        } catch (err) {
          handleError(err, errorBox);
        }
      } } }, 'Confirm ' + draft.number)
      : null;
    return el('div', { class: 'draft-preview', dataset: { draft: draft.number, status: draft.status } },
      el('p', {}, el('strong', {}, draft.number), ' ', ui.statusBadge(draft.status), ' ',
        ui.money(draft.amount, draft.currency)),
      el('p', {}, draft.summary),
      ui.diffList(draft.diff),
      el('p', { class: 'decision' }, decision),
      ui.reasonsList(draft.reasons),
      draft.result_ref ? el('p', {}, 'Result: ' + draft.result_ref) : null,
      draft.failure_reason ? el('p', { class: 'form-error' }, draft.failure_reason) : null,
      confirm);
  }

  /* ---------- accepting several proposals ---------- */

  async function previewSelected() {
    const cases = Array.from(state.selected);
    const panel = $('bulk-panel');
    $('bulk-accept').disabled = true;
    panel.hidden = false;
    ui.fill(panel, el('p', { class: 'muted' }, 'Opening ' + cases.length + ' proposals…'));
    try {
      const data = await api.post('/api/proposals', { cases });
      renderBulkPreviews(data.proposals || []);
    } catch (err) {
      ui.fill(panel, el('p', { class: 'form-error', role: 'alert' }, err.message));
      handleError(err, panel.querySelector('.form-error'));
      renderBulkBar();
    }
  }

  function renderBulkPreviews(proposals) {
    const drafts = proposals.filter((p) => p.draft && p.draft.can_confirm).map((p) => p.draft);
    const confirmAll = el('button', { type: 'button', class: 'btn primary', id: 'bulk-confirm',
      disabled: drafts.length === 0, on: { click: (event) => confirmEach(drafts, event.currentTarget) } },
    'Confirm ' + drafts.length + ' draft' + (drafts.length === 1 ? '' : 's'));
    const close = el('button', { type: 'button', class: 'btn', id: 'bulk-close', on: { click: closeBulk } }, 'Close');
    ui.fill($('bulk-panel'),
      el('h2', { id: 'bulk-title' }, 'Proposed drafts (' + proposals.length + ')'),
      el('p', { class: 'muted small' }, 'Nothing has changed yet. Confirming sends each draft to the policy on its ' +
        'own: some may go ahead, some wait for an approver, some be blocked.'),
      el('ol', { class: 'bulk-previews' }, proposals.map((p) => el('li', { dataset: { case: p.case } },
        el('strong', {}, p.case), ' ',
        p.draft ? draftPreview(p.draft, null) : el('span', { class: 'form-error' }, p.error ? p.error.message : '')))),
      el('div', { class: 'action-row' }, confirmAll, close),
      el('ol', { id: 'bulk-results', class: 'bulk-results', 'aria-live': 'polite' }));
  }

  async function confirmEach(drafts, button) {
    button.disabled = true;
    const results = $('bulk-results');
    for (const draft of drafts) {
      const path = '/api/drafts/' + encodeURIComponent(draft.number) + '/confirm';
      try {
        const done = await api.post(path);
        results.append(el('li', { dataset: { draft: done.number, status: done.status } },
          el('strong', {}, done.number), ' ', ui.statusBadge(done.status), ' ', done.summary, ' — ', done.explanation));
      } catch (err) {
        if (err.status === 401) { handleError(err); return; }
        results.append(el('li', { dataset: { draft: draft.number, status: 'refused' } },
          el('strong', {}, draft.number), ' ', el('span', { class: 'form-error' }, err.message)));
      }
    }
    state.selected.clear();
    loadCases();
  }

  function closeBulk() {
    $('bulk-panel').hidden = true;
    $('bulk-panel').replaceChildren();
    renderBulkBar();
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
      // The action was an exception_action draft: the policy may have held it for an approver, or blocked it.
      if (detail.draft_status && detail.draft_status !== 'executed') {
        showActionError(detail.draft + ' is ' + ui.humanize(detail.draft_status) + ': ' + detail.explanation);
      }
      loadCases();
    } catch (err) {
      handleError(err, $('case-error'));
      if (button) button.disabled = false;
    }
  }

  document.addEventListener('DOMContentLoaded', main);
})();
