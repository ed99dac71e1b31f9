/* ERP assistant: a small, safe markdown renderer for the assistant's answers.
 *
 * Supports paragraphs (single newlines become <br>), **bold**, *italic*, `code`, fenced code,
 * headings, "- " / "1." lists (nested by indentation), pipe tables (header row + separator row),
 * block quotes and rules, and links to the product's dashboard ([Fill rate](/dashboard#fill-rate)). Every piece of source text is HTML-escaped before any tag is added,
 * so the output never contains markup that was not produced here.
 *
 * Record ids become <button type="button" class="record-link" data-ref="...">: any id listed
 * in `sources`, and anything matching /\b(SO|PO|TR|DR|EX|SH|ADJ|RMA|CN)-\d+\b/.
 *
 *   ErpMarkdown.render(text, { sources: ["V-200"] })   -> safe HTML string
 *   ErpMarkdown.linkify(text, sources)                 -> safe HTML string of plain text with record links
 *   ErpMarkdown.toFragment(html)                       -> DocumentFragment (for appendChild)
 */
(function (global) {
  'use strict';

  if (global.ErpMarkdown) return;

  const DOCUMENT_REF = '(?:SO|PO|TR|DR|EX|SH|ADJ|RMA|CN)-\\d+';
  const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

  function escapeHtml(text) {
    return String(text == null ? '' : text).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
  }

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }

  /* ---------- record links ---------- */

  function recordButton(ref) {
    const safe = escapeHtml(ref);
    return '<button type="button" class="record-link" data-ref="' + safe + '">' + safe + '</button>';
  }

  /** A function: plain text -> escaped HTML where record ids are buttons. */
  function makeLinker(records) {
    const ids = Array.from(new Set((records || []).map(String).filter((id) => id.trim())))
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp);
    const alternatives = ids.concat([DOCUMENT_REF]).join('|');
    // A record id is a whole token: no letter, digit, "_" or "-" glued to either side.
    const pattern = new RegExp('(^|[^A-Za-z0-9_-])(' + alternatives + ')(?![A-Za-z0-9_-])', 'g');
    return function linkText(text) {
      let html = '';
      let last = 0;
      pattern.lastIndex = 0;
      let match;
      while ((match = pattern.exec(text)) !== null) {
        const start = match.index + match[1].length;
        html += escapeHtml(text.slice(last, start)) + recordButton(match[2]);
        last = start + match[2].length;
        pattern.lastIndex = last;
      }
      return html + escapeHtml(text.slice(last));
    };
  }

  function linkify(text, records) {
    return makeLinker(records)(String(text == null ? '' : text)).replace(/\n/g, '<br>');
  }

  /* ---------- inline: code spans, emphasis, text ---------- */

  const EMPHASIS = /\*\*(?=\S)([\s\S]*?\S)\*\*|\*(?=[^\s*])([\s\S]*?[^\s*])\*/g;

  function textHtml(text, linker) {
    return linker(text).replace(/\n/g, '<br>');
  }

  function emphasisHtml(text, linker) {
    let html = '';
    let last = 0;
    const matches = Array.from(text.matchAll(EMPHASIS));
    matches.forEach((match) => {
      html += textHtml(text.slice(last, match.index), linker);
      html += match[1] !== undefined
        ? '<strong>' + emphasisHtml(match[1], linker) + '</strong>'
        : '<em>' + emphasisHtml(match[2], linker) + '</em>';
      last = match.index + match[0].length;
    });
    return html + textHtml(text.slice(last), linker);
  }

  function codeHtml(code, linker) {
    // `SO-12` is still a record: link it, but keep the code look.
    return '<code>' + linker(code) + '</code>';
  }

  // [a chart](/dashboard#fill-rate): only links to the product's own dashboard become links (no other URL, no
  // javascript:, nothing off-site); any other bracketed text stays text.
  const DASHBOARD_LINK = /\[([^\]\n]{1,80})\]\((\/dashboard(?:\?[A-Za-z0-9_.=&-]*)?(?:#[a-z0-9-]+)?)\)/g;

  function linksHtml(text, linker) {
    let html = '';
    let last = 0;
    for (const match of text.matchAll(DASHBOARD_LINK)) {
      html += emphasisHtml(text.slice(last, match.index), linker);
      html += '<a class="chart-link" href="' + escapeHtml(match[2]) + '" target="_blank" rel="noopener">' +
        escapeHtml(match[1]) + '</a>';
      last = match.index + match[0].length;
    }
    return html + emphasisHtml(text.slice(last), linker);
  }

  function inlineHtml(text, linker) {
    let html = '';
    let last = 0;
    for (const match of text.matchAll(/`([^`\n]+)`/g)) {
      html += linksHtml(text.slice(last, match.index), linker);
      html += codeHtml(match[1], linker);
      last = match.index + match[0].length;
    }
    return html + linksHtml(text.slice(last), linker);
  }

  /* ---------- blocks ---------- */

  const FENCE = /^\s*(```|~~~)/;
  const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
  const QUOTE = /^\s{0,3}>\s?(.*)$/;
  const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const TABLE_SEPARATOR = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
  const NUMERIC_CELL = /^[-+\u2212]?(?:[A-Z]{3}\s?)?[-+]?[\d.,]+\s*%?$/;

  function isBlank(line) { return !line || !line.trim(); }

  function isTableStart(lines, i) {
    return i + 1 < lines.length && lines[i].includes('|') &&
      lines[i + 1].includes('-') && TABLE_SEPARATOR.test(lines[i + 1]) &&
      (lines[i + 1].includes('|') || lines[i].trim().startsWith('|'));
  }

  function startsBlock(lines, i) {
    const line = lines[i];
    return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
      LIST_ITEM.test(line) || isTableStart(lines, i);
  }

  /** Split a table row on unescaped pipes that are not inside `code`. */
  function splitRow(line) {
    let row = line.trim();
    if (row.startsWith('|')) row = row.slice(1);
    if (row.endsWith('|') && !row.endsWith('\\|')) row = row.slice(0, -1);
    const cells = [];
    let cell = '';
    let inCode = false;
    for (let k = 0; k < row.length; k += 1) {
      const ch = row[k];
      if (ch === '\\' && row[k + 1] === '|') { cell += '|'; k += 1; continue; }
      if (ch === '`') inCode = !inCode;
      if (ch === '|' && !inCode) { cells.push(cell.trim()); cell = ''; continue; }
      cell += ch;
    }
    cells.push(cell.trim());
    return cells;
  }

  function alignments(separator) {
    return splitRow(separator).map((cell) => {
      const left = cell.startsWith(':');
      const right = cell.endsWith(':');
      if (left && right) return 'center';
      if (right) return 'num';
      return '';
    });
  }

  function cellHtml(tag, text, align, linker) {
    const cls = align || (tag === 'td' && NUMERIC_CELL.test(text) ? 'num' : '');
    const attr = cls ? ' class="' + cls + '"' : '';
    const scope = tag === 'th' ? ' scope="col"' : '';
    return '<' + tag + scope + attr + '>' + inlineHtml(text, linker) + '</' + tag + '>';
  }

  function tableBlock(lines, i, linker) {
    const header = splitRow(lines[i]);
    const align = alignments(lines[i + 1]);
    const width = header.length;
    let html = '<div class="table-wrap"><table><thead><tr>';
    header.forEach((cell, c) => { html += cellHtml('th', cell, align[c], linker); });
    html += '</tr></thead><tbody>';
    let j = i + 2;
    while (j < lines.length && !isBlank(lines[j]) && lines[j].includes('|')) {
      const cells = splitRow(lines[j]);
      html += '<tr>';
      for (let c = 0; c < width; c += 1) html += cellHtml('td', cells[c] || '', align[c], linker);
      html += '</tr>';
      j += 1;
    }
    return { html: html + '</tbody></table></div>', next: j };
  }

  function fenceBlock(lines, i) {
    const marker = lines[i].trim().slice(0, 3);
    const body = [];
    let j = i + 1;
    while (j < lines.length && !lines[j].trim().startsWith(marker)) { body.push(lines[j]); j += 1; }
    return { html: '<pre><code>' + escapeHtml(body.join('\n')) + '</code></pre>', next: j + 1 };
  }

  function headingBlock(lines, i, linker) {
    const match = HEADING.exec(lines[i]);
    const level = Math.min(match[1].length + 2, 6);
    return { html: '<h' + level + '>' + inlineHtml(match[2], linker) + '</h' + level + '>', next: i + 1 };
  }

  function quoteBlock(lines, i, linker) {
    const body = [];
    let j = i;
    while (j < lines.length && QUOTE.test(lines[j])) { body.push(QUOTE.exec(lines[j])[1]); j += 1; }
    return { html: '<blockquote>' + renderLines(body, linker) + '</blockquote>', next: j };
  }

  function indentWidth(space) {
    return space.replace(/\t/g, '    ').length;
  }

  /** Collect the list items (with continuation lines) that start at line i. */
  function collectItems(lines, i) {
    const items = [];
    let j = i;
    while (j < lines.length) {
      const match = LIST_ITEM.exec(lines[j]);
      if (match && !RULE.test(lines[j])) {
        const marker = match[2];
        const ordered = /\d/.test(marker);
        items.push({ indent: indentWidth(match[1]), ordered, number: ordered ? parseInt(marker, 10) : 1, text: match[3] });
        j += 1;
      } else if (!isBlank(lines[j]) && /^\s+\S/.test(lines[j]) && items.length) {
        items[items.length - 1].text += '\n' + lines[j].trim();
        j += 1;
      } else if (isBlank(lines[j]) && j + 1 < lines.length && LIST_ITEM.test(lines[j + 1])) {
        j += 1;
      } else {
        break;
      }
    }
    return { items, next: j };
  }

  /** One list (and the lists nested in it) starting at items[k]. */
  function listHtml(items, k, linker) {
    const first = items[k];
    const tag = first.ordered ? 'ol' : 'ul';
    const start = first.ordered && first.number !== 1 ? ' start="' + first.number + '"' : '';
    let html = '<' + tag + start + '>';
    let i = k;
    while (i < items.length && items[i].indent >= first.indent) {
      if (items[i].indent === first.indent && items[i].ordered !== first.ordered) break;
      html += '<li>' + inlineHtml(items[i].text, linker);
      i += 1;
      while (i < items.length && items[i].indent > first.indent) {
        const nested = listHtml(items, i, linker);
        html += nested.html;
        i = nested.next;
      }
      html += '</li>';
    }
    return { html: html + '</' + tag + '>', next: i };
  }

  function listBlock(lines, i, linker) {
    const { items, next } = collectItems(lines, i);
    let html = '';
    let k = 0;
    while (k < items.length) {
      const list = listHtml(items, k, linker);
      html += list.html;
      k = list.next;
    }
    return { html, next };
  }

  function paragraphBlock(lines, i, linker) {
    const body = [lines[i].trim()];
    let j = i + 1;
    while (j < lines.length && !isBlank(lines[j]) && !startsBlock(lines, j)) { body.push(lines[j].trim()); j += 1; }
    return { html: '<p>' + inlineHtml(body.join('\n'), linker) + '</p>', next: j };
  }

  function blockAt(lines, i, linker) {
    const line = lines[i];
    if (FENCE.test(line)) return fenceBlock(lines, i);
    if (HEADING.test(line)) return headingBlock(lines, i, linker);
    if (RULE.test(line)) return { html: '<hr>', next: i + 1 };
    if (isTableStart(lines, i)) return tableBlock(lines, i, linker);
    if (QUOTE.test(line)) return quoteBlock(lines, i, linker);
    if (LIST_ITEM.test(line)) return listBlock(lines, i, linker);
    return paragraphBlock(lines, i, linker);
  }

  function renderLines(lines, linker) {
    let html = '';
    let i = 0;
    while (i < lines.length) {
      if (isBlank(lines[i])) { i += 1; continue; }
      const block = blockAt(lines, i, linker);
      html += block.html;
      i = block.next;
    }
    return html;
  }

  /** Markdown text -> safe HTML; options.sources are extra record ids to link. */
  function render(text, options) {
    const linker = makeLinker(options && options.sources);
    const lines = String(text == null ? '' : text).replace(/\r\n?/g, '\n').split('\n');
    return renderLines(lines, linker);
  }

  /** Parse HTML produced by this module into nodes (inert: scripts never run from a template). */
  function toFragment(html) {
    const template = global.document.createElement('template');
    template.innerHTML = html;
    return template.content;
  }

  global.ErpMarkdown = { render, linkify, escapeHtml, toFragment, DOCUMENT_REF };
})(typeof window !== 'undefined' ? window : globalThis);
