/* Approvals inbox: drafts waiting for me (the highest priority first, as the server ranks them by business impact),
 * one-by-one and bulk decisions, a live count, and the history of my decisions. */
(function () {
  'use strict';

  const COUNT_EVERY_MS = 10000;
  const LEAVE_AFTER_MS = 2500;
  const ui = window.ErpUi;
  const el = ui.el;
  const $ = (id) => document.getElementById(id);

  let api = null;
  const state = { knownCount: null, filtered: false };

  /* ---------- start ---------- */

  async function main() {
    let page;
    try {
      page = await ui.startPage('/inbox');
    } catch (err) {
      ui.pageError(err.message);
      return;
    }
    if (!page) return;
    api = page.api;
    fillEntityFilter(page.me.entities || []);
    if (!page.me.can_approve) {
      document.querySelector('.lede').textContent = 'Your roles do not approve drafts, so nothing will wait here for you.';
    }
    wireFilters();
    wireTabs();
    wireBulk();
    $('inbox-refresh').addEventListener('click', () => loadApprovals());
    await loadApprovals();
    refreshCount();
    setInterval(refreshCount, COUNT_EVERY_MS);
  }

  function fillEntityFilter(entities) {
    const select = $('filter-entity');
    entities.forEach((entity) => select.append(el('option', { value: entity }, entity)));
  }

  function wireFilters() {
    const form = $('filters');
    form.addEventListener('submit', (event) => { event.preventDefault(); loadApprovals(); });
    $('filter-entity').addEventListener('change', () => loadApprovals());
    $('filter-kind').addEventListener('change', () => loadApprovals());
  }

  function filterQuery() {
    const minValue = $('filter-min-value').value.trim();
    return { entity: $('filter-entity').value, kind: $('filter-kind').value, min_value: minValue };
  }

  function handleError(err, box) {
    if (err.status === 401) { location.replace('/signin?next=/inbox'); return; }
    if (box) box.textContent = err.message;
    else ui.pageError(err.message);
  }

  /* ---------- the list ---------- */

  async function loadApprovals() {
    const list = $('approvals');
    const query = filterQuery();
    list.setAttribute('aria-busy', 'true');
    try {
      const data = await api.get('/api/approvals', query);
      ui.pageError('');
      state.filtered = Boolean(query.entity || query.kind || query.min_value);
      if (!state.filtered) state.knownCount = data.total;
      $('inbox-changed').hidden = true;
      renderList(data.drafts || []);
      $('list-status').textContent = (data.drafts || []).length + ' drafts waiting.';
    } catch (err) {
      handleError(err);
    } finally {
      list.setAttribute('aria-busy', 'false');
    }
  }

  function renderList(drafts) {
    $('approvals').replaceChildren(...drafts.map(approvalCard));
    $('bulk-results').hidden = true;
    $('bulk-error').textContent = '';
    updateEmpty();
    updateBulkControls();
  }

  function updateEmpty() {
    const none = !document.querySelector('#approvals .approval-card');
    const empty = $('empty');
    empty.hidden = !none;
    empty.textContent = state.filtered
      ? 'Nothing waits for your approval with these filters.'
      : 'Nothing waits for your approval.';
    $('bulk').hidden = none;
  }

  function amountText(draft) {
    const amount = ui.money(draft.amount, draft.currency);
    if (!amount) return '';
    if (draft.currency && draft.currency !== 'USD' && draft.amount_usd) {
      return amount + ' (USD ' + ui.money(draft.amount_usd, '') + ')';
    }
    return amount;
  }

  function cardTitle(draft, id) {
    return el('div', { class: 'card-title' },
      el('h2', { id, tabindex: '-1' }, draft.number + ' · ' + ui.humanize(draft.kind)),
      ui.statusBadge(draft.status),
      draft.overdue ? el('span', { class: 'badge overdue' }, 'overdue') : null,
      draft.low_risk ? el('span', { class: 'badge low-risk' }, 'low risk') : null);
  }

  function cardMeta(draft) {
    return el('p', { class: 'card-meta' },
      el('span', { class: 'entity' }, draft.entity),
      el('span', { class: 'amount' }, amountText(draft)),
      el('span', { class: 'requester' }, 'requested by ' + draft.requester),
      el('span', { class: 'age', title: ui.formatTime(draft.created_at) }, ui.hoursAgo(draft.age_hours)),
      priorityText(draft));
  }

  /** The priority the inbox is ordered by, and the weighted factors that make it (those that count). */
  function priorityText(draft) {
    const counted = (draft.factors || []).filter((f) => f.score);
    if (!counted.length) return null;
    const parts = counted.map((f) => f.name + ' ' + f.score + ' (' + f.basis + ')');
    return el('span', { class: 'priority', title: 'score = the sum of weight x points per factor' },
      'priority ' + draft.urgency + ': ' + parts.join(' + '));
  }

  function draftFacts(draft) {
    return [
      el('p', { class: 'card-summary' }, draft.summary),
      draft.waiting_for && draft.waiting_for.length
        ? el('p', { class: 'waiting' }, 'Waiting for ' + ui.joinWords(draft.waiting_for)) : null,
      draft.note || draft.explanation
        ? el('p', { class: 'explanation muted' }, draft.note || draft.explanation) : null,
      draft.reasons && draft.reasons.length ? el('h3', { class: 'sub' }, 'Why it needs approval') : null,
      ui.reasonsList(draft.reasons),
      draft.diff && draft.diff.length ? el('h3', { class: 'sub' }, 'What it changes') : null,
      ui.diffList(draft.diff),
    ];
  }

  function selectBox(draft) {
    return el('input', {
      type: 'checkbox', class: 'select', disabled: !draft.low_risk,
      'aria-label': 'Select ' + draft.number + ' for a bulk decision',
      title: draft.low_risk ? null : 'Only low-risk drafts can be decided in bulk',
      on: { change: updateBulkControls },
    });
  }

  function decisionControls(draft, card) {
    const commentId = 'comment-' + draft.number;
    return el('div', { class: 'decide' },
      el('div', { class: 'field' },
        el('label', { for: commentId }, 'Comment (required to reject)'),
        el('textarea', { id: commentId, class: 'comment', rows: '2', maxlength: '1000',
          on: { input: () => cardError(card, '') } })),
      el('div', { class: 'buttons' },
        el('button', { type: 'button', class: 'btn primary approve', on: { click: () => decide(card, 'approve') } }, 'Approve'),
        el('button', { type: 'button', class: 'btn danger reject', on: { click: () => decide(card, 'reject') } }, 'Reject')));
  }

  function approvalCard(draft) {
    const titleId = 'title-' + draft.number;
    const detailsId = 'details-' + draft.number;
    const card = el('article', {
      class: 'approval-card', 'aria-labelledby': titleId,
      dataset: { draft: draft.number, status: draft.status, overdue: String(draft.overdue), lowRisk: String(draft.low_risk) },
    });
    const details = el('div', { class: 'details', id: detailsId, hidden: true });
    const toggle = el('button', { type: 'button', class: 'link-btn details-toggle', 'aria-expanded': 'false',
      'aria-controls': detailsId, on: { click: () => toggleDetails(card, toggle, details) } }, 'Details');
    card.append(el('div', { class: 'card-top' },
      selectBox(draft),
      el('div', { class: 'card-main' },
        cardTitle(draft, titleId), cardMeta(draft), draftFacts(draft),
        decisionControls(draft, card),
        el('p', { class: 'card-error', role: 'alert' }),
        el('p', { class: 'outcome', role: 'status', hidden: true }),
        toggle, details)));
    return card;
  }

  /* ---------- deciding one draft ---------- */

  function cardError(card, message) {
    card.querySelector('.card-error').textContent = message || '';
  }

  function setCardBusy(card, busy) {
    card.querySelectorAll('.approve, .reject, .comment').forEach((node) => { node.disabled = busy; });
  }

  async function decide(card, action) {
    const number = card.dataset.draft;
    const textarea = card.querySelector('.comment');
    const comment = textarea.value.trim();
    if (action === 'reject' && !comment) {
      cardError(card, 'Write a comment to reject: the requester sees why.');
      textarea.focus();
      return;
    }
    cardError(card, '');
    setCardBusy(card, true);
    try {
      const body = comment ? { comment } : {};
      const detail = await api.post('/api/drafts/' + encodeURIComponent(number) + '/' + action, body);
      showOutcome(card, detail.status, detail.result_ref, detail.failure_reason, detail.waiting_for);
      leaveSoon(card);
      refreshCount(true);
    } catch (err) {
      handleError(err, card.querySelector('.card-error'));
      // Someone else decided first (or the draft expired): nothing left to decide here.
      setCardBusy(card, err.code === 'invalid_state');
      if (err.code === 'invalid_state') leaveSoon(card, LEAVE_AFTER_MS * 2);
    }
  }

  function outcomeText(status, resultRef, failureReason, waitingFor) {
    if (status === 'executed') return 'Approved and executed' + (resultRef ? ' as ' + resultRef : '') + '.';
    if (status === 'approved') return 'Approved.';
    if (status === 'rejected') return 'Rejected.';
    if (status === 'pending_approval') {
      const who = waitingFor && waitingFor.length ? ui.joinWords(waitingFor) : 'another approver';
      return 'Your approval is recorded; it still waits for ' + who + '.';
    }
    if (status === 'failed') return 'Approved, but it could not be executed' + (failureReason ? ': ' + failureReason : '.');
    return ui.humanize(status) + (failureReason ? ': ' + failureReason : '.');
  }

  function showOutcome(card, status, resultRef, failureReason, waitingFor) {
    const outcome = card.querySelector('.outcome');
    outcome.textContent = outcomeText(status, resultRef, failureReason, waitingFor);
    outcome.dataset.status = status;
    outcome.classList.toggle('bad', status === 'failed' || status === 'blocked');
    outcome.hidden = false;
    card.dataset.status = status;
    card.dataset.decided = 'true';
    setCardBusy(card, true);
    const box = card.querySelector('.select');
    box.checked = false;
    box.disabled = true;
    updateBulkControls();
  }

  /** The decided card fades, then leaves; focus moves to the next card if it was inside. */
  function leaveSoon(card, after) {
    setTimeout(() => {
      card.classList.add('leaving');
      setTimeout(() => removeCard(card), 400);
    }, after || LEAVE_AFTER_MS);
  }

  function removeCard(card) {
    if (!card.isConnected) return;
    const hadFocus = card.contains(document.activeElement);
    const next = card.nextElementSibling || card.previousElementSibling;
    card.remove();
    updateEmpty();
    updateBulkControls();
    if (!hadFocus) return;
    const heading = next && next.querySelector('h2');
    if (heading) heading.focus();
    else $('main').focus();
  }

  /* ---------- details ---------- */

  async function toggleDetails(card, toggle, details) {
    const open = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(open));
    details.hidden = !open;
    if (!open || details.dataset.loaded) return;
    details.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
    try {
      const detail = await api.get('/api/drafts/' + encodeURIComponent(card.dataset.draft));
      details.dataset.loaded = 'true';
      ui.fill(details, detailParts(detail));
    } catch (err) {
      details.replaceChildren(el('p', { class: 'card-error' }, err.message));
    }
  }

  function detailParts(detail) {
    return [
      el('h4', {}, 'Approvals so far'),
      approvalsList(detail.approvals || []),
      el('h4', {}, 'Conversation'),
      excerptList(detail.conversation_excerpt || []),
      el('h4', {}, 'Today'),
      ui.factsList(detail.current) || el('p', { class: 'muted' }, 'No current facts.'),
      el('p', { class: 'small muted' },
        'Created ' + ui.formatTime(detail.created_at) +
        (detail.escalate_at ? ' · escalates ' + ui.formatTime(detail.escalate_at) : '') +
        (detail.expires_at ? ' · expires ' + ui.formatTime(detail.expires_at) : '')),
    ];
  }

  function approvalsList(approvals) {
    if (!approvals.length) return el('p', { class: 'muted' }, 'None yet.');
    return el('ul', { class: 'approvals' }, approvals.map((a) => el('li', {},
      el('strong', {}, a.approver), ' ' + a.verdict,
      a.comment ? ' — “' + a.comment + '”' : '',
      ' ', el('span', { class: 'muted', title: ui.formatTime(a.at) }, ui.timeAgo(a.at)))));
  }

  function excerptList(messages) {
    if (!messages.length) return el('p', { class: 'muted' }, 'No conversation: the draft was made directly.');
    return el('ul', { class: 'excerpt' }, messages.map((m) => el('li', {},
      el('span', { class: 'role' }, m.role === 'user' ? 'Requester:' : 'Assistant:'), m.content)));
  }

  /* ---------- bulk ---------- */

  function wireBulk() {
    $('select-low-risk').addEventListener('change', (event) => {
      selectableBoxes().forEach((box) => { box.checked = event.target.checked; });
      updateBulkControls();
    });
    $('bulk-comment').addEventListener('input', () => { $('bulk-error').textContent = ''; });
    $('bulk-approve').addEventListener('click', () => bulkDecide('approve'));
    $('bulk-reject').addEventListener('click', () => bulkDecide('reject'));
  }

  function selectableBoxes() {
    return Array.from(document.querySelectorAll('#approvals .approval-card .select:not(:disabled)'));
  }

  function selectedNumbers() {
    return selectableBoxes().filter((box) => box.checked)
      .map((box) => box.closest('.approval-card').dataset.draft);
  }

  function updateBulkControls() {
    const boxes = selectableBoxes();
    const chosen = boxes.filter((box) => box.checked).length;
    const all = $('select-low-risk');
    all.disabled = !boxes.length;
    all.checked = boxes.length > 0 && chosen === boxes.length;
    all.indeterminate = chosen > 0 && chosen < boxes.length;
    $('bulk-approve').disabled = !chosen;
    $('bulk-reject').disabled = !chosen;
    $('bulk-approve').textContent = chosen ? 'Approve selected (' + chosen + ')' : 'Approve selected';
    $('bulk-reject').textContent = chosen ? 'Reject selected (' + chosen + ')' : 'Reject selected';
  }

  async function bulkDecide(action) {
    const numbers = selectedNumbers();
    const comment = $('bulk-comment').value.trim();
    const error = $('bulk-error');
    if (!numbers.length) return;
    if (action === 'reject' && !comment) {
      error.textContent = 'Write a comment to reject the selected drafts.';
      $('bulk-comment').focus();
      return;
    }
    error.textContent = '';
    $('bulk-approve').disabled = true;
    $('bulk-reject').disabled = true;
    try {
      const data = await api.post('/api/approvals/bulk', { action, numbers, comment });
      showBulkResults(data.results || []);
      $('bulk-comment').value = '';
      refreshCount(true);
    } catch (err) {
      handleError(err, error);
      updateBulkControls();
    }
  }

  function cardFor(number) {
    return document.querySelector('#approvals .approval-card[data-draft="' + CSS.escape(number) + '"]');
  }

  function showBulkResults(results) {
    const list = $('bulk-results');
    list.replaceChildren(...results.map((r) => el('li', { class: r.ok ? 'ok' : 'fail', dataset: { draft: r.number } },
      r.number + ': ' + (r.ok ? ui.humanize(r.status) : (r.error ? r.error.message : 'failed')))));
    list.hidden = !results.length;
    results.forEach((r) => {
      const card = cardFor(r.number);
      if (!card) return;
      if (r.ok) { showOutcome(card, r.status, null, null, null); leaveSoon(card); }
      else cardError(card, r.error ? r.error.message : 'This draft could not be decided.');
    });
    updateBulkControls();
  }

  /* ---------- live count ---------- */

  async function refreshCount(acknowledge) {
    try {
      const data = await api.get('/api/approvals/count');
      const count = data.count;
      const badge = $('inbox-count');
      badge.textContent = String(count);
      badge.dataset.count = String(count);
      document.title = count ? '(' + count + ') Approvals' : 'Approvals';
      if (acknowledge === true || state.knownCount === null) state.knownCount = count;
      else if (count !== state.knownCount) $('inbox-changed').hidden = false;
    } catch (err) {
      if (err.status === 401) location.replace('/signin?next=/inbox');
    }
  }

  /* ---------- tabs and history ---------- */

  function wireTabs() {
    const tabs = [$('tab-waiting'), $('tab-history')];
    tabs.forEach((tab, index) => {
      tab.addEventListener('click', () => selectTab(tab));
      tab.addEventListener('keydown', (event) => {
        const moves = { ArrowRight: 1, ArrowLeft: -1 };
        let target = null;
        if (event.key in moves) target = tabs[(index + moves[event.key] + tabs.length) % tabs.length];
        else if (event.key === 'Home') target = tabs[0];
        else if (event.key === 'End') target = tabs[tabs.length - 1];
        if (!target) return;
        event.preventDefault();
        selectTab(target);
        target.focus();
      });
    });
  }

  function selectTab(selected) {
    [$('tab-waiting'), $('tab-history')].forEach((tab) => {
      const on = tab === selected;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      $(tab.getAttribute('aria-controls')).hidden = !on;
    });
    if (selected.id === 'tab-history') loadHistory();
  }

  async function loadHistory() {
    const list = $('history');
    list.setAttribute('aria-busy', 'true');
    try {
      const data = await api.get('/api/approvals/history', { limit: 50 });
      const drafts = data.drafts || [];
      list.replaceChildren(...drafts.map(historyCard));
      $('history-empty').hidden = drafts.length > 0;
    } catch (err) {
      handleError(err);
    } finally {
      list.setAttribute('aria-busy', 'false');
    }
  }

  function historyCard(draft) {
    return el('article', { class: 'history-card', dataset: { draft: draft.number, status: draft.status } },
      cardTitle(draft, 'history-' + draft.number),
      cardMeta(draft),
      el('p', { class: 'card-summary' }, draft.summary),
      draft.result_ref ? el('p', {}, 'Executed as ' + draft.result_ref) : null,
      draft.failure_reason ? el('p', { class: 'card-error' }, draft.failure_reason) : null);
  }

  document.addEventListener('DOMContentLoaded', main);
})();
