/* geo311: sort table.geo311-sortable by clicking (or pressing Enter/Space on) a header button.
   Cells may carry data-sort (a number, or empty for "no value"); rows without a value go last.
   Tables are complete without this script: it only reorders rows. */
(function () {
  "use strict";
  function key(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var raw = cell.getAttribute("data-sort");
    return raw === null ? cell.textContent.trim() : raw;
  }
  function sortBy(table, th) {
    var numeric = th.getAttribute("data-type") === "number";
    var direction = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var sign = direction === "ascending" ? 1 : -1;
    var index = th.cellIndex;
    var heads = th.parentNode.cells;
    for (var i = 0; i < heads.length; i += 1) {
      if (heads[i] !== th && heads[i].hasAttribute("aria-sort")) { heads[i].setAttribute("aria-sort", "none"); }
    }
    th.setAttribute("aria-sort", direction);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, index);
      var y = key(b, index);
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      if (numeric) { return sign * (parseFloat(x) - parseFloat(y)); }
      return sign * x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
    });
    for (var r = 0; r < rows.length; r += 1) { body.appendChild(rows[r]); }
    var status = table.parentNode.querySelector(".geo311-sort-status");
    if (status) {
      var label = th.querySelector("button").textContent;
      status.textContent = "Sorted by " + label + ", " + direction + ".";
    }
  }
  var tables = document.querySelectorAll("table.geo311-sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var buttons = table.querySelectorAll("thead th button.geo311-sort");
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener("click", function () { sortBy(table, button.parentNode); });
    });
  });
}());
