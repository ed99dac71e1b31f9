/* ERP assistant: small DOM and formatting helpers shared by the widget and the full pages.
 * A classic script defining window.ErpUi. Every helper sets text with textContent, never HTML.
 */
(function (global) {
  'use strict';

  if (global.ErpUi) return;

  const PROPERTIES = new Set(['hidden', 'disabled', 'checked', 'value', 'selected', 'open', 'htmlFor', 'tabIndex']);

  function append(parent, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach((c) => append(parent, c)); return; }
    parent.append(child instanceof global.Node ? child : String(child));
  }

  /**
   * el('button', { class: 'btn', type: 'button', text: 'Go', dataset: { ref: 'V-200' }, on: { click } }, ...children)
   * Strings among the children become text nodes.
   */
  function el(tag, attrs, ...children) {
    const node = global.document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === null || value === undefined || (value === false && !PROPERTIES.has(key))) return;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key === 'on') Object.entries(value).forEach(([type, fn]) => node.addEventListener(type, fn));
      else if (PROPERTIES.has(key)) node[key] = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    });
    append(node, children);
    return node;
  }

  /** Replace a node's children; null, undefined and false children are left out. */
  function fill(node, ...children) {
    node.replaceChildren();
    append(node, children);
    return node;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';

  /** An inline, decorative SVG icon from path data. */
  function icon(pathData, size) {
    const svg = global.document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', String(size || 24));
    svg.setAttribute('height', String(size || 24));
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    const path = global.document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', pathData);
    path.setAttribute('fill', 'currentColor');
    svg.appendChild(path);
    return svg;
  }

  /* ---------- formatting ---------- */

  /** "sales_order" -> "sales order". */
  function humanize(value) {
    return String(value == null ? '' : value).replace(/_/g, ' ');
  }

  /** ["a", "b", "c"] -> "a, b and c". */
  function joinWords(items) {
    const list = (items || []).map(String);
    if (list.length <= 1) return list.join('');
    return list.slice(0, -1).join(', ') + ' and ' + list[list.length - 1];
  }

  /** "1234.5", "USD" -> "USD 1,234.50" (the core's own way of writing money). */
  function money(amount, currency) {
    const value = Number(amount);
    if (amount === null || amount === undefined || amount === '' || !Number.isFinite(value)) return '';
    const digits = value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    return (currency ? currency + ' ' : '') + digits;
  }

  /** The API's naive-UTC ISO times -> Date. */
  function parseTime(text) {
    if (!text) return null;
    const iso = /[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : text + 'Z';
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function formatTime(text) {
    const date = parseTime(text);
    if (!date) return text || '';
    return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }

  /** A compact local time for tables: "Nov 22, 11:52". */
  function formatShortTime(text) {
    const date = parseTime(text);
    if (!date) return text || '';
    return date.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  /** 3.2 -> "3 h ago". */
  function hoursAgo(hours) {
    const h = Number(hours);
    if (!Number.isFinite(h) || h < 1 / 60) return 'just now';
    if (h < 1) return Math.round(h * 60) + ' min ago';
    if (h < 48) return Math.round(h) + ' h ago';
    return Math.round(h / 24) + ' d ago';
  }

  function timeAgo(text) {
    const date = parseTime(text);
    return date ? hoursAgo((Date.now() - date.getTime()) / 3600000) : '';
  }

  /* ---------- shared pieces ---------- */

  function statusBadge(status) {
    return el('span', { class: 'badge status-' + status, dataset: { status } }, humanize(status));
  }

  function diffList(lines) {
    if (!lines || !lines.length) return null;
    return el('ul', { class: 'diff', 'aria-label': 'Changes' }, lines.map((line) => el('li', {}, line)));
  }

  /** [{label, value}] -> <dl>. */
  function factsList(pairs, className) {
    if (!pairs || !pairs.length) return null;
    const dl = el('dl', { class: className || 'facts' });
    pairs.forEach((pair) => {
      dl.append(el('dt', {}, pair.label), el('dd', {}, pair.value == null ? '' : String(pair.value)));
    });
    return dl;
  }

  function reasonsList(reasons) {
    if (!reasons || !reasons.length) return null;
    return el('ul', { class: 'reasons', 'aria-label': 'Policy reasons' }, reasons.map((reason) =>
      el('li', {}, el('span', { class: 'rule' }, reason.rule), ' ', reason.text)));
  }

  /* ---------- full pages ---------- */

  /** Only same-origin relative paths: "/inbox" yes, "//evil" or "https://…" no. */
  function safeNextPath(next, fallback) {
    if (typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\')) {
      return next;
    }
    return fallback;
  }

  function redirectToSignIn(next) {
    global.location.replace('/signin?next=' + encodeURIComponent(next));
  }

  /**
   * Start a signed-in page: returns { api, me }, or redirects to /signin?next=... on 401.
   * Fills #user-name and wires #signout.
   */
  async function startPage(next) {
    const api = global.ErpApi.createClient({ base: '' });
    let me;
    try {
      me = await api.me();
    } catch (err) {
      if (err.status === 401) { redirectToSignIn(next); return null; }
      throw err;
    }
    const name = global.document.getElementById('user-name');
    if (name) name.textContent = me.display_name + ' · ' + me.entities.join(', ');
    const signOut = global.document.getElementById('signout');
    if (signOut) {
      signOut.addEventListener('click', async () => {
        signOut.disabled = true;
        try { await api.signOut(); } catch (err) { /* signed out either way */ }
        global.location.assign('/signin');
      });
    }
    return { api, me };
  }

  /** Show a page-level error in #page-error (an aria-live region). */
  function pageError(message) {
    const box = global.document.getElementById('page-error');
    if (!box) return;
    box.textContent = message || '';
    box.hidden = !message;
  }

  global.ErpUi = {
    el, fill, icon, humanize, joinWords, money, parseTime, formatTime, formatShortTime, hoursAgo, timeAgo,
    statusBadge, diffList, factsList, reasonsList, safeNextPath, startPage, pageError,
  };
})(typeof window !== 'undefined' ? window : globalThis);
