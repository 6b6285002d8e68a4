// The browser side of geo311's maps. Every text is set with textContent or as a DOM
// property, never parsed as HTML; data arrive in JSON blocks read by geo311.data.
window.geo311 = window.geo311 || (function () {
  "use strict";
  function node(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (text !== undefined && text !== null) { el.textContent = String(text); }
    return el;
  }
  var maps = [];
  function registry(map) {
    if (!map._geo311) {
      map._geo311 = {areas: [], view: null};
      maps.push(map);
    }
    return map._geo311;
  }
  function tooltip(name, labels, values) {
    var box = node("div", "geo311-tip");
    box.appendChild(node("div", "geo311-tip-name", name));
    var dl = node("dl");
    for (var i = 0; i < labels.length; i++) {
      if (values[i] === null || values[i] === undefined || values[i] === "") { continue; }
      dl.appendChild(node("dt", "", labels[i]));
      dl.appendChild(node("dd", "", values[i]));
    }
    box.appendChild(dl);
    return box;
  }
  function features(geometries, properties) {
    var out = [];
    for (var i = 0; i < geometries.length; i++) {
      out.push({type: "Feature", geometry: geometries[i], properties: properties[i]});
    }
    return {type: "FeatureCollection", features: out};
  }
  function data(id) {
    // data blocks are <script type="application/json">: parsed, never run
    return JSON.parse(document.getElementById(id).textContent);
  }
  function choropleth(map, geometries, layerData) {
    var properties = layerData.properties, cfg = layerData.config;
    function fill(p) {
      if (p.s === "not_reached") { return "url(#" + cfg.notReached + ")"; }
      if (p.s === "insufficient" || p.c < 0) { return "url(#" + cfg.na + ")"; }
      if (p.s === "unstable") { return "url(#" + cfg.unstable[p.c] + ")"; }
      return cfg.colors[p.c];
    }
    function style(feature) {
      var p = feature.properties;
      var cls = "geo311-area geo311-" + p.s + (p.c >= 0 ? " geo311-class-" + p.c : "");
      return {fillColor: fill(p), fillOpacity: cfg.opacity, color: cfg.stroke, weight: 0.7,
              opacity: 0.9, className: cls};
    }
    var layer = L.geoJSON(features(geometries, properties), {
      style: style,
      onEachFeature: function (feature, sub) {
        var p = feature.properties;
        sub.bindTooltip(function () { return tooltip(p.name, cfg.labels, p.t); },
                        {sticky: true, className: "geo311-tooltip", direction: "top"});
        // keep hundreds of areas out of the Tab order: the search box reaches them instead
        sub.on("add", function () {
          var el = sub.getElement();
          if (el) { el.setAttribute("tabindex", "-1"); }
        });
        sub.on("mouseover", function () { sub.setStyle({weight: 2.5}); sub.bringToFront(); });
        sub.on("mouseout", function () { layer.resetStyle(sub); });
      }
    });
    registry(map).areas.push(layer);
    return layer;
  }
  function legend(map, layer, id) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var control = L.control({position: "bottomright"});
    control.onAdd = function () {
      var box = L.DomUtil.create("div", "geo311-legend-control leaflet-control");
      box.appendChild(el);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    layer.on("add", function () { control.addTo(map); });
    layer.on("remove", function () { control.remove(); });
    if (map.hasLayer(layer)) {
      control.addTo(map);
    } else if (el.parentNode) {
      el.parentNode.removeChild(el);  // shown again, in its control, when the layer is
    }
  }
  function overlapping(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }
  function declutter(map, tips) {
    // labels come largest area first: show each unless it would cover one already shown
    // or be cut by the edge of the map. Boxes are computed in map pixels from the labels'
    // anchors, not read from the screen, so a zoom animation in progress cannot skew them.
    var size = map.getSize();
    var kept = [];
    tips.forEach(function (tip) {
      var el = tip.getElement();
      if (!el) { return; }
      var at = map.latLngToContainerPoint(tip.getLatLng());
      var w = el.offsetWidth, h = el.offsetHeight;
      // one pixel more on every side: Leaflet rounds the label's position
      var box = {left: at.x - w / 2 - 1, right: at.x + w / 2 + 1, top: at.y - h / 2 - 1,
                 bottom: at.y + h / 2 + 1};
      var fits = w > 0 && box.left >= 0 && box.top >= 0 && box.right <= size.x &&
        box.bottom <= size.y;
      if (!fits || kept.some(function (k) { return overlapping(k, box); })) {
        el.classList.add("geo311-label-hidden");
      } else {
        el.classList.remove("geo311-label-hidden");
        kept.push(box);
      }
    });
  }
  function outlines(map, geometries, labels) {
    var group = L.featureGroup();
    var props = labels.map(function (label) { return {name: label[1]}; });
    L.geoJSON(features(geometries, props), {interactive: false, style: {
      color: "#1a1a1a", weight: 2.2, opacity: 0.9, fill: false, className: "geo311-outline"
    }}).addTo(group);
    var tips = labels.map(function (label) {
      return L.tooltip({permanent: true, direction: "center", className: "geo311-outline-label",
                        interactive: false})
        .setLatLng(label[0]).setContent(node("span", "", label[1])).addTo(group);
    });
    function tidy() { if (map.hasLayer(group)) { declutter(map, tips); } }
    group.on("add", tidy);
    map.on("zoomend moveend resize", tidy);
    return group;
  }
  function search(map, opts) {
    var control = L.control({position: "topleft"});
    control.onAdd = function () {
      var box = L.DomUtil.create("div", "geo311-search leaflet-bar leaflet-control");
      box.setAttribute("role", "search");
      var label = node("label", "geo311-visually-hidden", opts.label);
      label.htmlFor = opts.id;
      var input = node("input");
      input.type = "search"; input.id = opts.id; input.placeholder = opts.placeholder;
      input.autocomplete = "off"; input.setAttribute("list", opts.id + "-names");
      var list = node("datalist"); list.id = opts.id + "-names";
      var status = node("span", "geo311-visually-hidden");
      status.setAttribute("role", "status");
      [label, input, list, status].forEach(function (child) { box.appendChild(child); });
      function fillList() {
        var seen = Object.create(null);  // no inherited keys: an area may be called "constructor"
        list.textContent = "";
        registry(map).areas.forEach(function (layer) {
          layer.eachLayer(function (sub) {
            var name = sub.feature.properties.name;
            if (seen[name]) { return; }
            seen[name] = true;
            var option = document.createElement("option");
            option.value = name;
            list.appendChild(option);
          });
        });
      }
      function go() {
        var wanted = input.value.trim().toLowerCase();
        if (!wanted) { return; }
        var layers = registry(map).areas.slice().sort(function (a, b) {
          return (map.hasLayer(b) ? 1 : 0) - (map.hasLayer(a) ? 1 : 0);
        });
        for (var i = 0; i < layers.length; i++) {
          var hit = null;
          layers[i].eachLayer(function (sub) {
            var name = String(sub.feature.properties.name).toLowerCase();
            if (!hit && name === wanted) { hit = sub; }
          });
          if (hit) {
            map.fitBounds(hit.getBounds(), {maxZoom: 15});
            if (map.hasLayer(layers[i])) { hit.openTooltip(hit.getBounds().getCenter()); }
            status.textContent = "";
            return;
          }
        }
        status.textContent = opts.notFound;
      }
      input.addEventListener("focus", fillList);
      input.addEventListener("change", go);
      input.addEventListener("keydown", function (e) { if (e.key === "Enter") { go(); } });
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    control.addTo(map);
    return control;
  }
  function switcher(map, indicators, overlays, opts) {
    if (indicators.length < 2 && !overlays.length) { return null; }
    var control = L.control({position: "topright"});
    function option(fieldset, type, id, text, layer, onChange) {
      var row = node("div", "geo311-switcher-option");
      var input = node("input");
      input.type = type; input.id = id; input.checked = map.hasLayer(layer);
      if (type === "radio") { input.name = opts.id; input.value = id; }
      var label = node("label", "", text);
      label.htmlFor = id;
      input.addEventListener("change", function () { onChange(input); });
      row.appendChild(input); row.appendChild(label);
      fieldset.appendChild(row);
      return input;
    }
    function show(wanted) {
      indicators.forEach(function (layer) {
        if (layer !== wanted && map.hasLayer(layer)) { map.removeLayer(layer); }
      });
      if (!map.hasLayer(wanted)) { map.addLayer(wanted); }
      overlays.forEach(function (layer) {  // outlines stay drawn over the indicator
        if (map.hasLayer(layer) && layer.bringToFront) { layer.bringToFront(); }
      });
    }
    control.onAdd = function () {
      var box = L.DomUtil.create("div", "geo311-switcher leaflet-control");
      var details = node("details");
      details.open = !opts.collapsed && map.getSize().x >= 560;
      details.appendChild(node("summary", "", opts.title));
      if (indicators.length > 1) {
        var group = node("fieldset");
        group.appendChild(node("legend", "", opts.indicatorLegend));
        indicators.forEach(function (layer, i) {
          option(group, "radio", opts.id + "-indicator-" + i, opts.indicators[i], layer,
                 function (input) { if (input.checked) { show(layer); } });
        });
        details.appendChild(group);
      }
      if (overlays.length) {
        var extra = node("fieldset");
        extra.appendChild(node("legend", "", opts.overlayLegend));
        overlays.forEach(function (layer, i) {
          option(extra, "checkbox", opts.id + "-overlay-" + i, opts.overlays[i], layer,
                 function (input) {
                   if (input.checked) { map.addLayer(layer); } else { map.removeLayer(layer); }
                 });
        });
        details.appendChild(extra);
      }
      box.appendChild(details);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    control.addTo(map);
    return control;
  }
  function refit(map) {
    // the page changed size (print layout, back to screen): keep the same ground in view
    var state = registry(map);
    if (!state.view) { state.view = map.getBounds(); }
    map.invalidateSize({animate: false, pan: false});
    map.fitBounds(state.view, {animate: false});
  }
  function relayout() { maps.forEach(refit); }
  function forget() { maps.forEach(function (map) { registry(map).view = null; }); }
  window.addEventListener("beforeprint", relayout);
  window.addEventListener("afterprint", function () { relayout(); forget(); });
  if (window.matchMedia) {
    var printing = window.matchMedia("print");
    var changed = function () { relayout(); if (!printing.matches) { forget(); } };
    if (printing.addEventListener) { printing.addEventListener("change", changed); }
    else if (printing.addListener) { printing.addListener(changed); }
  }
  return {choropleth: choropleth, data: data, legend: legend, outlines: outlines,
          search: search, switcher: switcher, tooltip: tooltip};
}());
