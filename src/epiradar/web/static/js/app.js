/* Renders every element with data-figure="<id of a JSON script>" as a Plotly figure,
   on page load and after each htmx swap. */
(function () {
  "use strict";

  function render(root) {
    if (typeof Plotly === "undefined") return;
    root.querySelectorAll("[data-figure]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figure);
      if (!source) return;
      var fig = JSON.parse(source.textContent);
      Plotly.react(el, fig.data, fig.layout, fig.config).then(function () {
        el.dataset.rendered = "true";
        el.dispatchEvent(new CustomEvent("figure:rendered", { bubbles: true }));
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { render(document); });
  // <button data-reveal="id">: show the hidden element with that id, then hide the button
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-reveal]");
    if (!button) return;
    var target = document.getElementById(button.dataset.reveal);
    if (target) target.hidden = false;
    button.hidden = true;
  });
  document.addEventListener("htmx:afterSettle", function (evt) { render(evt.detail.elt || document); });
  // pages restored from htmx's history cache hold a static copy of the plots: draw them again
  document.addEventListener("htmx:historyRestore", function () {
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      if (typeof Plotly !== "undefined") Plotly.purge(el);
      el.innerHTML = "";
      delete el.dataset.rendered;
    });
    render(document);
  });
})();
