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
  function registry(map) {
    if (!map._geo311) { map._geo311 = {areas: []}; }
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
  function outlines(map, geometries, labels) {
    var group = L.featureGroup();
    var props = labels.map(function (label) { return {name: label[1]}; });
    L.geoJSON(features(geometries, props), {interactive: false, style: {
      color: "#1a1a1a", weight: 2.2, opacity: 0.9, fill: false, className: "geo311-outline"
    }}).addTo(group);
    for (var i = 0; i < labels.length; i++) {
      L.tooltip({permanent: true, direction: "center", className: "geo311-outline-label",
                 interactive: false})
        .setLatLng(labels[i][0]).setContent(node("span", "", labels[i][1])).addTo(group);
    }
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
  return {choropleth: choropleth, data: data, legend: legend, outlines: outlines,
          search: search, tooltip: tooltip};
}());
