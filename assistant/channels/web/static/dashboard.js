/* Dashboard: the page is drawn on the server (charts as SVG, figures as tables); this only wires sign-out
 * and sends someone whose session ended back through the sign-in page. */
(function () {
  'use strict';

  async function main() {
    try {
      await window.ErpUi.startPage(location.pathname + location.search + location.hash);
    } catch (err) {
      window.ErpUi.pageError(err.message);
    }
  }

  document.addEventListener('DOMContentLoaded', main);
})();
