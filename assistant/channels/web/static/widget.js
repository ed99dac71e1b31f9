/* ERP assistant: the embeddable chat widget.
 *
 *   <script src="http://erp-host:8765/static/widget.js" defer></script>
 *
 * The API base is where this script came from (override with data-erp-base="http://…").
 * It loads api.js, markdown.js and ui.js from the same place, then draws a chat bubble and a
 * panel inside an open shadow root on <div id="erp-assistant">, so the page's CSS cannot reach it.
 */
(function () {
  'use strict';

  if (document.getElementById('erp-assistant')) return;

  const SCRIPT = document.currentScript;
  const BASE = apiBase(SCRIPT);
  const OPEN_KEY = 'erp-assistant:open';
  const MAX_MESSAGE = 4000;
  const POLL_MS = 4000;
  const RUNNING_POLL_MS = 3000;
  const ICON_CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3zm5 0a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3zm5 0a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3z';
  const ICON_CLOSE = 'M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z';

  let api, md, ui, el;
  const dom = {};
  const state = {
    me: null,
    sessionChecked: false,
    conversationId: null,
    running: false,
    abort: null,
    cards: new Map(),      // draft number -> { node, card }
    pollTimer: null,
    recordStack: [],       // refs shown in the record view, newest last
    recordTrigger: null,   // the record link that opened the record view
    followEnd: true,       // keep the message list scrolled to its end as content arrives
    chatScroll: 0,         // where the message list was when a record opened over it
  };

  /* ---------- boot ---------- */

  function apiBase(script) {
    const override = script && script.dataset && script.dataset.erpBase;
    if (override) return override.replace(/\/+$/, '');
    if (!script || !script.src) return '';
    const url = new URL(script.src, location.href);
    return url.origin + url.pathname.replace(/\/static\/[^/]*$/, '').replace(/\/[^/]*\.js$/, '');
  }

  function loadScript(file, globalName) {
    if (window[globalName]) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const tag = document.createElement('script');
      tag.src = BASE + '/static/' + file;
      tag.async = false;
      tag.onload = () => resolve();
      tag.onerror = () => reject(new Error('could not load ' + tag.src));
      document.head.appendChild(tag);
    });
  }

  function boot() {
    Promise.all([
      loadScript('api.js', 'ErpApi'),
      loadScript('markdown.js', 'ErpMarkdown'),
      loadScript('ui.js', 'ErpUi'),
    ]).then(start, (err) => console.error('ERP assistant widget:', err.message));
  }

  function start() {
    api = window.ErpApi.createClient({ base: BASE });
    md = window.ErpMarkdown;
    ui = window.ErpUi;
    el = ui.el;
    buildWidget();
    if (sessionStorage.getItem(OPEN_KEY) === '1') openPanel(false);
  }

  /* ---------- building the DOM ---------- */

  function buildWidget() {
    const host = el('div', { id: 'erp-assistant' });
    const root = host.attachShadow({ mode: 'open' });
    const frame = el('div', { class: 'erp-root' });
    frame.style.visibility = 'hidden';  // until widget.css has loaded: no flash of unstyled widget
    const css = el('link', { rel: 'stylesheet', href: BASE + '/static/widget.css' });
    const reveal = () => { frame.style.visibility = ''; };
    css.addEventListener('load', reveal);
    css.addEventListener('error', reveal);
    dom.bubble = el('button', {
      id: 'erp-bubble', class: 'bubble', type: 'button', 'aria-label': 'Open ERP assistant',
      'aria-expanded': 'false', 'aria-controls': 'erp-panel', on: { click: togglePanel },
    }, ui.icon(ICON_CHAT, 28));
    dom.panel = buildPanel();
    frame.append(dom.panel, dom.bubble);
    root.append(css, frame);
    document.body.appendChild(host);
  }

  function buildPanel() {
    dom.who = el('p', { class: 'who', id: 'erp-who' });
    dom.newChat = el('button', { id: 'erp-new', class: 'btn ghost', type: 'button', hidden: true,
      on: { click: newChat } }, 'New chat');
    dom.close = el('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close assistant',
      id: 'erp-close', on: { click: () => closePanel() } }, ui.icon(ICON_CLOSE, 20));
    dom.alert = el('div', { class: 'alert', id: 'erp-alert', role: 'alert', hidden: true });
    const panel = el('div', { id: 'erp-panel', class: 'panel', role: 'dialog', 'aria-labelledby': 'erp-title', hidden: true,
      on: { keydown: onPanelKeydown, click: onPanelClick } },
    el('header', { class: 'head' },
      el('div', { class: 'titles' }, el('h2', { id: 'erp-title' }, 'ERP assistant'), dom.who),
      dom.newChat, dom.close),
    dom.alert,
    buildSignInView(), buildChatView(), buildRecordView());
    return panel;
  }

  function buildSignInView() {
    dom.username = el('input', { id: 'erp-username', name: 'username', autocomplete: 'username', required: true,
      autocapitalize: 'none', spellcheck: 'false' });
    dom.password = el('input', { id: 'erp-password', name: 'password', type: 'password',
      autocomplete: 'current-password', required: true });
    dom.signinError = el('p', { class: 'form-error', id: 'erp-signin-error', 'aria-live': 'assertive' });
    dom.signinSubmit = el('button', { class: 'btn primary', type: 'submit', id: 'erp-signin-submit' }, 'Sign in');
    dom.signin = el('form', { id: 'erp-signin', class: 'signin', 'aria-labelledby': 'erp-signin-title', novalidate: true,
      on: { submit: onSignIn } },
    el('h3', { id: 'erp-signin-title' }, 'Sign in to ask the assistant'),
    el('label', { for: 'erp-username' }, 'Username'), dom.username,
    el('label', { for: 'erp-password' }, 'Password'), dom.password,
    dom.signinError, dom.signinSubmit);
    dom.viewSignin = el('section', { class: 'view', hidden: true }, dom.signin);
    return dom.viewSignin;
  }

  function buildChatView() {
    dom.messages = el('div', { id: 'erp-messages', class: 'messages', role: 'log', 'aria-live': 'polite',
      'aria-label': 'Conversation', tabindex: '0', on: { scroll: onMessagesScroll } });
    dom.input = el('textarea', { id: 'erp-input', rows: '2', placeholder: 'Ask about stock, orders, customers…',
      on: { keydown: onInputKeydown, input: autoGrow } });
    dom.send = el('button', { id: 'erp-send', class: 'btn primary', type: 'submit' }, 'Send');
    const composer = el('form', { class: 'composer', on: { submit: onSend } },
      el('label', { for: 'erp-input', class: 'sr-only' }, 'Message'), dom.input, dom.send);
    dom.briefing = el('section', { id: 'erp-briefing', class: 'briefing', 'aria-label': 'Your briefing', hidden: true });
    dom.viewChat = el('section', { class: 'view chat', hidden: true }, dom.briefing, dom.messages, composer);
    return dom.viewChat;
  }

  function buildRecordView() {
    dom.back = el('button', { id: 'erp-back', class: 'btn ghost back', type: 'button', on: { click: recordBack } }, '← Back');
    dom.record = el('div', { id: 'erp-record', class: 'record', 'aria-live': 'polite' });
    dom.viewRecord = el('section', { class: 'view record-view', hidden: true, 'aria-label': 'Record' }, dom.back, dom.record);
    return dom.viewRecord;
  }

  /* ---------- panel open / close / views ---------- */

  function togglePanel() {
    if (dom.panel.hidden) openPanel(true);
    else closePanel();
  }

  function openPanel(moveFocus) {
    dom.panel.hidden = false;
    dom.bubble.setAttribute('aria-expanded', 'true');
    sessionStorage.setItem(OPEN_KEY, '1');
    scrollToEnd(false);
    if (!state.sessionChecked) checkSession(moveFocus);
    else if (moveFocus) focusCurrentView();
  }

  function closePanel() {
    dom.panel.hidden = true;
    dom.bubble.setAttribute('aria-expanded', 'false');
    sessionStorage.setItem(OPEN_KEY, '0');
    dom.bubble.focus();
  }

  function currentView() {
    if (!dom.viewSignin.hidden) return 'signin';
    if (!dom.viewRecord.hidden) return 'record';
    return 'chat';
  }

  function showView(name) {
    dom.viewSignin.hidden = name !== 'signin';
    dom.viewChat.hidden = name !== 'chat';
    dom.viewRecord.hidden = name !== 'record';
  }

  function focusCurrentView() {
    const view = currentView();
    if (view === 'signin') (dom.username.value ? dom.password : dom.username).focus();
    else if (view === 'chat') dom.input.focus();
    else dom.back.focus();
  }

  function onPanelKeydown(event) {
    if (event.key !== 'Escape') return;
    event.stopPropagation();
    if (currentView() === 'record') recordBack();
    else closePanel();
  }

  function onPanelClick(event) {
    const link = event.target.closest('.record-link');
    if (link && link.dataset.ref) openRecord(link.dataset.ref, link);
  }

  /** A message in the panel's alert region, optionally with a "Try again" button. */
  function showAlert(message, retry) {
    ui.fill(dom.alert, message || '', retry
      ? [' ', el('button', { type: 'button', class: 'btn retry', on: { click: retry } }, 'Try again')] : null);
    dom.alert.hidden = !message;
  }

  /* ---------- session ---------- */

  async function checkSession(moveFocus) {
    try {
      state.me = await api.me();
      state.sessionChecked = true;
      enterChat(moveFocus);
    } catch (err) {
      if (err.status === 401) {
        state.sessionChecked = true;
        showSignIn('', moveFocus);
      } else {
        showAlert(err.message, () => { showAlert(''); checkSession(true); });
      }
    }
  }

  function showSignIn(message, moveFocus) {
    state.me = null;
    dom.who.textContent = '';
    dom.newChat.hidden = true;
    dom.signinError.textContent = message || '';
    showView('signin');
    if (moveFocus !== false) focusCurrentView();
  }

  async function onSignIn(event) {
    event.preventDefault();
    const username = dom.username.value.trim();
    const password = dom.password.value;
    if (!username || !password) {
      dom.signinError.textContent = 'Enter your username and password.';
      (username ? dom.password : dom.username).focus();
      return;
    }
    dom.signinSubmit.disabled = true;
    dom.signinError.textContent = '';
    try {
      state.me = await api.signIn(username, password);
      dom.password.value = '';
      enterChat(true);
    } catch (err) {
      dom.signinError.textContent = err.message;
      dom.password.select();
      dom.password.focus();
    } finally {
      dom.signinSubmit.disabled = false;
    }
  }

  function enterChat(moveFocus) {
    const me = state.me;
    dom.who.textContent = me.display_name + ' · ' + (me.entities || []).join(', ');
    dom.newChat.hidden = false;
    showAlert('');
    showView('chat');
    restoreConversation();
    loadBriefing();
    if (moveFocus !== false) dom.input.focus();
  }

  /* ---------- the daily briefing: a compact card above the chat ---------- */

  async function loadBriefing() {
    dom.briefing.hidden = true;
    try {
      renderBriefing(await api.get('/api/briefing'));
    } catch (err) {
      if (err.status === 401) handleSignedOut();  // anything else: no card, the chat still works
    }
  }

  function renderBriefing(data) {
    const lines = (data && data.lines) || [];
    if (!lines.length) { dom.briefing.hidden = true; return; }
    const list = el('ul', { class: 'briefing-lines' }, ...lines.map((line) =>
      el('li', { class: 'briefing-line', dataset: { topic: line.topic } },
        el('a', { href: BASE + line.link, target: '_blank', rel: 'noopener' }, line.text),
        line.items.length ? el('span', { class: 'briefing-refs' }, ...line.items.map((item) =>
          el('a', { href: BASE + item.link, target: '_blank', rel: 'noopener', title: item.text }, item.ref))) : null)));
    const hide = el('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Hide the briefing',
      on: { click: () => { dom.briefing.hidden = true; } } }, ui.icon(ICON_CLOSE, 14));
    dom.briefing.replaceChildren(
      el('header', { class: 'briefing-head' }, el('h3', {}, 'Needs your attention · ' + data.day), hide), list);
    dom.briefing.hidden = false;
  }

  function handleSignedOut() {
    stopPolling();
    showSignIn('Your session has ended. Sign in again to continue.');
  }

  /* ---------- conversation persistence ---------- */

  function storageKey() {
    return 'erp-assistant:conversation:' + state.me.username;
  }

  function rememberConversation(id) {
    state.conversationId = id;
    if (id) localStorage.setItem(storageKey(), id);
    else localStorage.removeItem(storageKey());
  }

  function conversationPath(id) {
    return '/api/conversations/' + encodeURIComponent(id);
  }

  async function restoreConversation() {
    resetMessages();
    const id = localStorage.getItem(storageKey());
    state.conversationId = id;
    if (!id) { showHint(); return; }
    try {
      const data = await api.get(conversationPath(id));
      if (state.conversationId !== id) return;
      renderHistory(data);
      if (data.conversation && data.conversation.running) waitForRunningTurn(id);
    } catch (err) {
      if (err.status === 404 || err.status === 403) { rememberConversation(null); showHint(); }
      else if (err.status === 401) handleSignedOut();
      else showAlert(err.message);
    }
  }

  function resetMessages() {
    stopPolling();
    state.cards.clear();
    dom.messages.replaceChildren();
  }

  function showHint() {
    dom.messages.append(el('p', { class: 'hint' },
      'Ask about stock, orders and customers, or ask for a draft — for example “how many V-200 can we promise in Atlanta?”'));
  }

  function removeHint() {
    const hint = dom.messages.querySelector('.hint');
    if (hint) hint.remove();
  }

  function renderHistory(data) {
    resetMessages();
    const assistantNodes = [];
    (data.messages || []).forEach((message) => {
      if (message.role === 'user') dom.messages.append(userMessage(message.content));
      else if (message.role === 'assistant') {
        const node = assistantMessage();
        fillAnswer(node, { text: message.content, sources: [] });
        dom.messages.append(node);
        assistantNodes.push({ node, text: message.content || '' });
      }
    });
    (data.drafts || []).forEach((card) => placeHistoryCard(card, assistantNodes));
    if (!dom.messages.children.length) showHint();
    scrollToEnd(true);
  }

  /** A draft card goes right after the first assistant message that names it, else at the end. */
  function placeHistoryCard(card, assistantNodes) {
    const pattern = new RegExp('(^|[^A-Za-z0-9-])' + card.number + '(?![0-9])');
    const owner = assistantNodes.find((entry) => pattern.test(entry.text));
    const node = upsertDraft(card);
    if (!owner) { dom.messages.append(node); return; }
    let anchor = owner.node;
    while (anchor.nextElementSibling && anchor.nextElementSibling.classList.contains('draft-card')) {
      anchor = anchor.nextElementSibling;
    }
    anchor.after(node);
  }

  /** After a reload during a turn: the stream is gone, so poll until the turn has finished. */
  async function waitForRunningTurn(id) {
    setRunning(true);
    const status = el('p', { class: 'turn-status' }, 'The assistant is still answering your last message…');
    dom.messages.append(status);
    scrollToEnd(true);
    try {
      for (;;) {
        await delay(RUNNING_POLL_MS);
        if (state.conversationId !== id) return;
        const data = await api.get(conversationPath(id));
        if (state.conversationId !== id) return;
        if (!data.conversation.running) { renderHistory(data); return; }
      }
    } catch (err) {
      status.textContent = err.message;
    } finally {
      if (state.conversationId === id) setRunning(false);
    }
  }

  function newChat() {
    if (state.abort) state.abort.abort();
    state.abort = null;
    rememberConversation(null);
    resetMessages();
    showAlert('');
    showHint();
    setRunning(false);
    showView('chat');
    dom.input.focus();
  }

  async function ensureConversation(text) {
    if (state.conversationId) return state.conversationId;
    const conversation = await api.post('/api/conversations', { title: text.slice(0, 80) });
    rememberConversation(conversation.id);
    return conversation.id;
  }

  /* ---------- sending a message ---------- */

  function onInputKeydown(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      onSend(event);
    }
  }

  function autoGrow() {
    dom.input.style.height = 'auto';
    dom.input.style.height = Math.min(dom.input.scrollHeight, 160) + 'px';
  }

  function setRunning(running) {
    state.running = running;
    dom.send.disabled = running;
  }

  function onSend(event) {
    event.preventDefault();
    if (state.running || !state.me) return;
    const text = dom.input.value.trim();
    if (!text) { dom.input.focus(); return; }
    if (text.length > MAX_MESSAGE) {
      showAlert('That message has ' + text.length + ' characters; the limit is ' + MAX_MESSAGE + '.');
      return;
    }
    sendMessage(text);
  }

  async function sendMessage(text) {
    showAlert('');
    removeHint();
    setRunning(true);
    dom.input.value = '';
    autoGrow();
    const userNode = userMessage(text);
    dom.messages.append(userNode);
    const turn = startTurn();
    const controller = new AbortController();
    state.abort = controller;
    try {
      await streamWithRetry(text, turn, controller.signal);
    } catch (err) {
      if (err.name !== 'AbortError') failBeforeStream(err, text, userNode, turn);
    } finally {
      if (state.abort === controller) {
        state.abort = null;
        finishTurn(turn);
        setRunning(false);
        if (!dom.panel.hidden && currentView() === 'chat') dom.input.focus();
      }
    }
  }

  /** Stream the turn; if the stored conversation is gone (404), start a new one once. */
  async function streamWithRetry(text, turn, signal) {
    const id = await ensureConversation(text);
    try {
      await streamTurn(id, text, turn, signal);
    } catch (err) {
      if (err.status !== 404 || turn.started) throw err;
      rememberConversation(null);
      await streamTurn(await ensureConversation(text), text, turn, signal);
    }
  }

  function streamTurn(id, text, turn, signal) {
    return api.stream(conversationPath(id) + '/messages', { text }, (name, data) => {
      turn.started = true;
      onTurnEvent(turn, name, data || {});
    }, { signal });
  }

  function failBeforeStream(err, text, userNode, turn) {
    if (turn.started) { showTurnError(turn, { message: err.message }); return; }
    userNode.classList.add('failed');
    userNode.append(el('span', { class: 'msg-note' }, 'Not sent'));
    if (!dom.input.value) dom.input.value = text;
    turn.steps.remove();
    if (err.status === 401) { handleSignedOut(); return; }
    showAlert(sendErrorMessage(err));
  }

  function sendErrorMessage(err) {
    if (err.code === 'turn_in_progress') {
      return 'The assistant is still answering your previous message in this chat. Wait for it to finish, then send again.';
    }
    if (err.code === 'rate_limited') {
      const wait = err.retryAfter ? ' in ' + Math.ceil(err.retryAfter) + ' s' : ' in a moment';
      return 'Too many messages at once. Try again' + wait + '.';
    }
    if (err.code === 'too_large' || err.status === 413) return 'That message is too long. Shorten it and send again.';
    return err.message;
  }

  /* ---------- one turn: status, tool chips, streamed answer, drafts ---------- */

  function startTurn() {
    const status = el('p', { class: 'turn-status' }, 'Sending…');
    const steps = el('div', { class: 'turn-steps' }, status);
    const drafts = el('div', { class: 'turn-drafts' });
    dom.messages.append(steps, drafts);
    scrollToEnd(true);
    return { steps, status, drafts, tools: null, toolList: null, message: null, body: null,
      answered: false, failed: false, started: false };
  }

  function onTurnEvent(turn, name, data) {
    if (name === 'queued') setStatus(turn, 'Waiting for the model — ' + data.position + ' ahead of you');
    else if (name === 'started') setStatus(turn, 'Thinking…');
    else if (name === 'token') appendToken(turn, data.text || '');
    else if (name === 'tool_call') addToolChip(turn, data);
    else if (name === 'tool_result') markToolResult(turn, data);
    else if (name === 'draft') showTurnDraft(turn, data);
    else if (name === 'answer') showAnswer(turn, data);
    else if (name === 'error') showTurnError(turn, data);
    scrollToEnd(false);
  }

  function setStatus(turn, text) {
    if (turn.status) turn.status.textContent = text;
  }

  function turnMessage(turn) {
    if (!turn.message) {
      turn.message = assistantMessage();
      turn.body = turn.message.querySelector('.msg-body');
      turn.body.classList.add('streaming');
      turn.body.setAttribute('aria-busy', 'true');
      turn.drafts.before(turn.message);
    }
    return turn.message;
  }

  function appendToken(turn, text) {
    turnMessage(turn);
    turn.body.append(text);
  }

  function formatArgument(value) {
    if (value === null || value === undefined) return 'null';
    if (typeof value === 'object') return JSON.stringify(value);
    return String(value);
  }

  function toolCallText(call) {
    const args = Object.entries(call.arguments || {}).map(([key, value]) => key + '=' + formatArgument(value));
    return call.name + '(' + args.join(', ') + ')';
  }

  function addToolChip(turn, call) {
    if (!turn.tools) {
      turn.toolList = el('ul', { class: 'tool-list' });
      turn.toolSummary = el('summary', {}, 'Steps');
      turn.tools = el('details', { class: 'tools', open: true }, turn.toolSummary, turn.toolList);
      turn.steps.append(turn.tools);
    }
    const full = toolCallText(call);
    const shown = full.length > 160 ? full.slice(0, 157) + '…' : full;
    turn.toolList.append(el('li', { class: 'tool-chip', title: full, dataset: { tool: call.name || '' } },
      el('span', { class: 'arrow', 'aria-hidden': 'true' }, '→ '), shown));
    turn.toolSummary.textContent = 'Steps (' + turn.toolList.children.length + ')';
  }

  function markToolResult(turn, result) {
    if (!turn.toolList) return;
    const chips = Array.from(turn.toolList.querySelectorAll('.tool-chip:not([data-ok])'));
    const chip = chips.find((node) => node.dataset.tool === result.name) || chips[0];
    if (!chip) return;
    chip.dataset.ok = result.ok ? 'true' : 'false';
    if (!result.ok) {
      chip.classList.add('failed');
      chip.append(el('span', { class: 'chip-error' }, ' — failed' + (result.error ? ': ' + result.error : '')));
    }
  }

  function showTurnDraft(turn, card) {
    const node = upsertDraft(card);
    if (!node.isConnected) turn.drafts.append(node);
  }

  function showAnswer(turn, answer) {
    const message = turnMessage(turn);
    turn.answered = true;
    turn.body.classList.remove('streaming');
    turn.body.removeAttribute('aria-busy');
    const sources = (answer.sources || []).concat((answer.drafts || []).map((d) => d.number));
    fillAnswer(message, Object.assign({}, answer, { sources }), answer.sources || []);
    (answer.drafts || []).forEach((card) => showTurnDraft(turn, card));
    refreshOlderPreviews((answer.drafts || []).map((d) => d.number));
  }

  /** A new preview replaces an older unconfirmed one of the same kind: show the older cards as they now are. */
  function refreshOlderPreviews(fresh) {
    Array.from(state.cards.values())
      .filter((entry) => entry.card.status === 'unconfirmed' && !fresh.includes(entry.card.number))
      .forEach((entry) => pollDraft(entry.card.number));
  }

  function showTurnError(turn, error) {
    turn.failed = true;
    if (turn.body) { turn.body.classList.remove('streaming'); turn.body.removeAttribute('aria-busy'); }
    const node = el('div', { class: 'msg error' }, error.message || 'The assistant could not answer.');
    turn.drafts.before(node);
  }

  function finishTurn(turn) {
    if (turn.status) { turn.status.remove(); turn.status = null; }
    if (!turn.steps.children.length) turn.steps.remove();
    if (turn.body) { turn.body.classList.remove('streaming'); turn.body.removeAttribute('aria-busy'); }
    if (turn.started && !turn.answered && !turn.failed) {
      showTurnError(turn, { message: 'The connection closed before the answer was complete.' });
    }
    if (!turn.drafts.children.length) turn.drafts.remove();
    scrollToEnd(false);
  }

  /* ---------- messages ---------- */

  function userMessage(text) {
    return el('div', { class: 'msg user' }, el('div', { class: 'msg-body' }, text));
  }

  function assistantMessage() {
    return el('div', { class: 'msg assistant' }, el('div', { class: 'msg-body' }));
  }

  /** Final answer: markdown with record links, then sources, unchecked numbers, contradictions and stop notes. */
  function fillAnswer(message, answer, shownSources) {
    const body = message.querySelector('.msg-body');
    body.replaceChildren(md.toFragment(md.render(answer.text || '', { sources: answer.sources })));
    const old = message.querySelector('.msg-foot');
    if (old) old.remove();
    const foot = answerFoot(answer, shownSources || []);
    if (foot) message.append(foot);
  }

  function answerFoot(answer, sources) {
    const lines = [];
    if (sources.length) {
      lines.push(el('p', { class: 'sources' }, 'sources: ',
        sources.map((ref, i) => [i ? ', ' : '', md.toFragment(md.linkify(ref, [ref]))])));
    }
    const unchecked = answer.unsupported_numbers || [];
    if (unchecked.length) {
      lines.push(el('p', { class: 'warn', title: 'These numbers were not found in what the tools returned: check them before relying on them.' },
        'could not check: ' + unchecked.join(', ')));
    }
    const contradicted = answer.contradictions || [];
    if (contradicted.length) {
      lines.push(el('p', { class: 'warn', title: 'The answer says something this turn\'s records contradict; the correction under the answer quotes the records.' },
        'contradicts the records: ' + contradicted.map((c) => c.label + (c.record ? ' (' + c.record + ')' : '')).join(', ')));
    }
    if (answer.stopped) {
      const why = answer.stopped === 'step_limit' ? 'it took too many steps' : 'the model failed';
      lines.push(el('p', { class: 'warn' }, 'The assistant stopped early (' + why + '); the answer may be incomplete.'));
    }
    if (answer.usage && answer.usage.model_calls) {
      const u = answer.usage;
      lines.push(el('p', { class: 'usage' }, u.model_calls + ' model call' + (u.model_calls === 1 ? '' : 's') +
        (u.seconds >= 0.1 ? ' · ' + Number(u.seconds).toFixed(1) + ' s' : '')));
    }
    return lines.length ? el('div', { class: 'msg-foot' }, lines) : null;
  }

  /** Follow new content only while the reader is at the end (they may have scrolled up to read). */
  function onMessagesScroll() {
    const box = dom.messages;
    state.followEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  }

  function scrollToEnd(force) {
    if (force) state.followEnd = true;
    if (state.followEnd) dom.messages.scrollTop = dom.messages.scrollHeight;
  }

  /* ---------- draft cards ---------- */

  /** The card's element for this draft: created once, updated in place afterwards. */
  function upsertDraft(card, current) {
    let entry = state.cards.get(card.number);
    if (!entry) {
      entry = { node: el('section', { class: 'draft-card', 'aria-label': 'Draft ' + card.number, tabindex: '-1' }),
        card: null, error: '', busy: false };
      state.cards.set(card.number, entry);
    }
    entry.card = card;
    fillDraftCard(entry, current);
    if (card.status === 'pending_approval') startPolling();
    return entry.node;
  }

  function fillDraftCard(entry, current) {
    const node = entry.node;
    const card = entry.card;
    node.dataset.draft = card.number;
    node.dataset.status = card.status;
    const amount = ui.money(card.amount, card.currency);
    ui.fill(node,
      el('div', { class: 'card-head' },
        el('strong', { class: 'number' }, card.number), ' ',
        el('span', { class: 'kind' }, ui.humanize(card.kind)), ' ',
        ui.statusBadge(card.status)),
      el('p', { class: 'summary' }, card.summary || ''),
      amount ? el('p', { class: 'amount' }, amount + (card.entity ? ' · ' + card.entity : '')) : null,
      card.status === 'pending_approval' && card.waiting_for && card.waiting_for.length
        ? el('p', { class: 'waiting' }, 'Waiting for approval by ' + ui.joinWords(card.waiting_for)) : null,
      card.note ? el('p', { class: 'preview-note' }, card.note)
        : card.explanation ? el('p', { class: 'explanation' }, card.explanation) : null,
      ui.diffList(card.diff),
      card.status === 'executed' && card.result_ref
        ? el('p', { class: 'result' }, 'Executed as ', md.toFragment(md.linkify(card.result_ref, [card.result_ref]))) : null,
      card.failure_reason ? el('p', { class: 'failure' }, card.failure_reason) : null,
      card.status === 'executed' && current && current.length
        ? el('div', { class: 'current' }, el('p', { class: 'current-title' }, 'Today'), ui.factsList(current)) : null,
      draftActions(entry),
      entry.error ? el('p', { class: 'card-error', role: 'alert' }, entry.error) : null);
  }

  /** Confirm and Cancel for the requester of an unconfirmed draft; Withdraw while it waits for approval. */
  function draftActions(entry) {
    const card = entry.card;
    const unconfirmed = card.status === 'unconfirmed';
    const buttons = [];
    if (card.can_confirm) {
      buttons.push(el('button', { type: 'button', class: 'btn primary confirm', disabled: entry.busy,
        on: { click: () => actOnDraft(card.number, 'confirm') } }, 'Confirm'));
    }
    if (card.can_cancel) {
      buttons.push(el('button', { type: 'button', class: 'btn cancel', disabled: entry.busy,
        on: { click: () => actOnDraft(card.number, 'cancel') } }, unconfirmed ? 'Cancel' : 'Withdraw'));
    }
    if (!buttons.length) return null;
    const by = card.can_confirm && card.expires_at
      ? el('span', { class: 'expires' }, 'Confirm by ' + ui.formatShortTime(card.expires_at)) : null;
    return el('div', { class: 'card-actions', 'aria-busy': entry.busy ? 'true' : 'false' }, buttons, by);
  }

  /** The requester confirms (or cancels) the draft: the card shows what the core did, or why it refused. */
  async function actOnDraft(number, action) {
    const entry = state.cards.get(number);
    if (!entry || entry.busy) return;
    entry.busy = true;
    entry.error = '';
    fillDraftCard(entry);
    const path = '/api/drafts/' + encodeURIComponent(number);
    try {
      const detail = await api.post(path + '/' + action, {});
      entry.busy = false;
      upsertDraft(detail, detail.current);
    } catch (err) {
      entry.busy = false;
      if (err.status === 401) { fillDraftCard(entry); handleSignedOut(); return; }
      entry.error = err.message;
      try {
        const fresh = await api.get(path);  // the refusal may come from a change (expired, superseded)
        upsertDraft(fresh, fresh.current);
      } catch (ignored) {
        fillDraftCard(entry);
      }
    }
    entry.node.focus();
    scrollToEnd(false);
  }

  function pendingNumbers() {
    return Array.from(state.cards.values())
      .filter((entry) => entry.card.status === 'pending_approval')
      .map((entry) => entry.card.number);
  }

  function startPolling() {
    if (!state.pollTimer) state.pollTimer = setInterval(pollDrafts, POLL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  async function pollDrafts() {
    const numbers = pendingNumbers();
    if (!numbers.length) { stopPolling(); return; }
    if (document.hidden) return;
    await Promise.all(numbers.map(pollDraft));
  }

  async function pollDraft(number) {
    try {
      const detail = await api.get('/api/drafts/' + encodeURIComponent(number));
      const entry = state.cards.get(number);
      if (!entry) return;
      const before = entry.card;
      const changed = before.status !== detail.status ||
        JSON.stringify(before.waiting_for) !== JSON.stringify(detail.waiting_for);
      if (changed) { upsertDraft(detail, detail.current); scrollToEnd(false); }
    } catch (err) {
      if (err.status === 401) { stopPolling(); return; }
      if (err.status === 404 || err.status === 403) {
        const entry = state.cards.get(number);
        if (entry) entry.card = Object.assign({}, entry.card, { status: 'unknown' });
      }
    }
  }

  /* ---------- record view ---------- */

  function openRecord(ref, trigger) {
    if (currentView() !== 'record') {
      state.recordTrigger = trigger;
      state.recordStack = [];
      state.chatScroll = dom.messages.scrollTop;
    }
    state.recordStack.push(ref);
    showRecord(ref);
  }

  function recordBack() {
    state.recordStack.pop();
    if (state.recordStack.length) { showRecord(state.recordStack[state.recordStack.length - 1]); return; }
    showView('chat');
    dom.messages.scrollTop = state.chatScroll || 0;
    const trigger = state.recordTrigger;
    state.recordTrigger = null;
    if (trigger && trigger.isConnected) trigger.focus();
    else dom.input.focus();
  }

  async function showRecord(ref) {
    showView('record');
    dom.record.replaceChildren(el('p', { class: 'loading' }, 'Loading ' + ref + '…'));
    dom.back.focus();
    try {
      const record = await api.get('/api/records/' + encodeURIComponent(ref));
      if (state.recordStack[state.recordStack.length - 1] !== ref) return;
      renderRecord(record);
    } catch (err) {
      if (err.status === 401) { handleSignedOut(); return; }
      dom.record.replaceChildren(el('p', { class: 'form-error' }, err.message));
    }
  }

  function linkedText(value) {
    return md.toFragment(md.linkify(value == null ? '' : String(value)));
  }

  function renderRecord(record) {
    const title = el('h3', { class: 'record-title', tabindex: '-1' }, record.title || record.ref);
    const parts = [title, el('p', { class: 'record-kind' }, ui.humanize(record.kind) + ' · ' + record.ref)];
    if (record.fields && record.fields.length) {
      const dl = el('dl', { class: 'facts' });
      record.fields.forEach((f) => dl.append(el('dt', {}, f.label), el('dd', {}, linkedText(f.value))));
      parts.push(dl);
    }
    if (record.table && record.table.columns) parts.push(recordTable(record.table));
    const href = safeLink(record.link);
    if (href) parts.push(el('p', {}, el('a', { href, target: '_blank', rel: 'noopener' }, 'Open in the ERP')));
    ui.fill(dom.record, parts);
  }

  function recordTable(table) {
    return el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, table.columns.map((c) => el('th', { scope: 'col' }, c)))),
      el('tbody', {}, (table.rows || []).map((row) => el('tr', {}, row.map((cell) => el('td', {}, linkedText(cell))))))));
  }

  /** Only http(s) links, resolved against the API base (record links are paths on the server). */
  function safeLink(link) {
    if (!link) return null;
    try {
      const url = new URL(link, (BASE || location.origin) + '/');
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (err) {
      return null;
    }
  }

  function delay(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
