/* Draws every chart of an evenhand report from the Vega-Lite specs embedded in the page.
   Uses only the Vega-Embed bundle inlined above: no network access. The state object
   window.__evenhand lets tests (and curious readers) see what was drawn. */
(function () {
  "use strict";
  var state = (window.__evenhand = { expected: 0, rendered: 0, errors: [], done: false });
  window.addEventListener("error", function (event) {
    state.errors.push(String(event.message));
  });
  function fail(target, err) {
    state.errors.push(String(err && err.message ? err.message : err));
    target.classList.add("failed");
    target.textContent = "This chart could not be drawn; its numbers are in the table below.";
    console.error("evenhand chart", target.id, err);
  }
  var nodes = document.querySelectorAll('script[type="application/json"][data-chart]');
  state.expected = nodes.length;
  var jobs = Array.prototype.map.call(nodes, function (node) {
    var target = document.getElementById(node.getAttribute("data-chart"));
    try {
      var spec = JSON.parse(node.textContent);
      return vegaEmbed(target, spec, { actions: false, renderer: "svg" }).then(function () {
        state.rendered += 1;
        target.classList.add("rendered");
      }, function (err) { fail(target, err); });
    } catch (err) {
      fail(target, err);
      return Promise.resolve();
    }
  });
  Promise.all(jobs).then(function () {
    state.done = true;
    document.documentElement.setAttribute("data-charts", state.errors.length ? "failed" : "done");
  });
  // Printed reports show every table: open the collapsed ones before printing.
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) {
      if (!d.open) { d.open = true; d.setAttribute("data-print-opened", ""); }
    });
  });
  window.addEventListener("afterprint", function () {
    document.querySelectorAll("details[data-print-opened]").forEach(function (d) {
      d.open = false; d.removeAttribute("data-print-opened");
    });
  });
})();
