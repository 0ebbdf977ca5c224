// The fund-flow graph of the trace page (Cytoscape.js, vendored). The page's tables hold the
// same data, so nothing here is needed to read the trace; this adds pan, zoom and "expand".
(function () {
  "use strict";
  var container = document.getElementById("graph");
  var source = document.getElementById("trace-data");
  if (!container || !source || typeof cytoscape !== "function") { return; }
  var data = JSON.parse(source.textContent);

  var cy = cytoscape({
    container: container,
    elements: data.elements,
    minZoom: 0.1,
    maxZoom: 4,
    style: [
      { selector: "node", style: {
        "shape": "round-rectangle", "background-color": "#dde6f0", "border-width": 1,
        "border-color": "#4a5560", "label": "data(label)", "text-wrap": "wrap",
        "text-valign": "center", "font-size": 10, "width": 150, "height": 42, "color": "#1b1f24" } },
      { selector: "node[?origin]", style: { "background-color": "#0b4f8a", "color": "#ffffff" } },
      { selector: "node[?holding]", style: { "background-color": "#ffe3a3", "border-width": 2, "border-color": "#b9770e", "color": "#1b1f24" } },
      { selector: "node[?cut]", style: { "border-width": 3, "border-style": "dashed", "border-color": "#a4161a" } },
      { selector: "node:selected", style: { "overlay-color": "#ffbf47", "overlay-opacity": 0.35 } },
      { selector: "edge", style: {
        "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 2,
        "line-color": "#6c8ebf", "target-arrow-color": "#6c8ebf", "label": "data(label)",
        "font-size": 9, "text-background-color": "#ffffff", "text-background-opacity": 0.9,
        "text-background-padding": 2, "color": "#1b1f24" } }
    ],
    layout: { name: "preset" }
  });

  // A small graph fitted to the box would be drawn huge: cap the zoom after each layout.
  function settle() {
    if (cy.zoom() > 1.2) { cy.zoom(1.2); cy.center(); }
  }
  cy.on("layoutstop", settle);

  function relayout() {
    cy.layout({ name: "breadthfirst", directed: true, spacingFactor: 1.15, padding: 20,
                roots: cy.nodes("[?origin]") }).run();
  }

  relayout();

  document.getElementById("zoom-in").addEventListener("click", function () {
    cy.zoom({ level: cy.zoom() * 1.25, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  });
  document.getElementById("zoom-out").addEventListener("click", function () {
    cy.zoom({ level: cy.zoom() / 1.25, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  });
  document.getElementById("zoom-fit").addEventListener("click", function () { cy.fit(undefined, 20); settle(); });

  var panel = document.getElementById("node-panel");
  var facts = document.getElementById("node-facts");
  var expandButton = document.getElementById("expand-node");
  var registerLink = document.getElementById("node-register");
  var selected = null;

  function line(label, value) {
    var row = document.createElement("div");
    var strong = document.createElement("strong");
    strong.textContent = label + ": ";
    row.appendChild(strong);
    row.appendChild(document.createTextNode(value == null || value === "" ? "—" : String(value)));
    return row;
  }

  cy.on("tap", "node", function (event) {
    var d = event.target.data();
    selected = d.account;
    facts.replaceChildren(
      line("Account", d.account), line("Institution", d.institution), line("Country", d.country),
      line("Subject", d.subject), line("Hops from the origin", d.hop),
      line("Traced money held", d.holds.length ? d.holds.join("; ") : "none"),
      line("Cut here", d.cut ? "yes: a limit stopped the trace at this account" : "no"));
    var row = document.querySelector('tr[data-account="' + CSS.escape(d.account) + '"]');
    registerLink.hidden = !(row && row.querySelector("form"));
    if (row) { registerLink.href = "#" + row.id; }
    expandButton.disabled = false;
    panel.hidden = false;
  });

  expandButton.addEventListener("click", function () {
    if (!selected) { return; }
    expandButton.disabled = true;
    var url = container.dataset.expandUrl + "?account_id=" + encodeURIComponent(selected) +
      "&direction=" + encodeURIComponent(container.dataset.direction) +
      "&max_hops=" + encodeURIComponent(container.dataset.hops);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("expand failed: " + response.status); }
        return response.json();
      })
      .then(function (more) {
        var fresh = more.elements.filter(function (e) { return cy.getElementById(e.data.id).empty(); })
          .map(function (e) { e.data.origin = false; return e; });
        var nodes = fresh.filter(function (e) { return !e.data.source; });
        var edges = fresh.filter(function (e) { return e.data.source; });
        cy.add(nodes);
        cy.add(edges.filter(function (e) {
          return !cy.getElementById(e.data.source).empty() && !cy.getElementById(e.data.target).empty();
        }));
        relayout();
        container.dataset.expanded = String(Number(container.dataset.expanded || 0) + 1);
        facts.appendChild(line("Expanded", more.message || (fresh.length + " new elements")));
      })
      .catch(function (error) { facts.appendChild(line("Error", error.message)); })
      .finally(function () { expandButton.disabled = false; });
  });

  container.dataset.ready = "true";
  window.amlscreenTrace = cy;
})();
