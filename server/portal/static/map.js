/* The portal's maps (docs/maps.md): Tianditu tiles or the offline base map, and layers from OGC API Features.
   Reads its settings from <script id="map-config" type="application/json"> (server/portal/maps.py).
   After drawing, the map element carries data-features-drawn="N" (features on the map) and
   data-basemap="tianditu" | "offline"; the caption says the same in words. No request leaves this site
   unless a Tianditu key is configured. */
(function () {
  "use strict";
  var el = document.getElementById("map");
  var source = document.getElementById("map-config");
  if (!el || !source || !window.L) { return; }
  var cfg = JSON.parse(source.textContent);
  var words = cfg.words;
  var caption = document.getElementById("map-caption");
  var note = document.getElementById("map-note");
  var crs = cfg.crs === "EPSG3857" ? L.CRS.EPSG3857 : L.CRS.EPSG4326;
  var map = L.map(el, {crs: crs, minZoom: cfg.min_zoom, maxZoom: cfg.max_zoom, preferCanvas: false});
  map.attributionControl.setPrefix("Leaflet");
  map.createPane("basemap").style.zIndex = 250;        // above tiles (200), under the layers (400)
  map.createPane("basemapLabels").style.zIndex = 260;
  map.getPane("basemapLabels").style.pointerEvents = "none";

  function bounds(box) { return L.latLngBounds([box[1], box[0]], [box[3], box[2]]); }
  function say(text) { caption.textContent = text; }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] !== undefined ? values[k] : ""; });
  }
  map.fitBounds(bounds(cfg.view), {padding: [24, 24], maxZoom: cfg.max_zoom - 3});
  /* a dataset page's extent (its metadata's bounding box): a dashed box over the base map */
  if (cfg.extent) {
    L.rectangle(bounds(cfg.extent), {color: "#1f5fa8", weight: 2, dashArray: "6 4", fill: true, fillOpacity: 0.06,
                                     interactive: false, className: "wodp-extent"}).addTo(map);
  }

  /* base map: Tianditu tiles (base + labels) when configured; the offline district outlines otherwise */
  var tiles = [];
  var offline = null;
  function showOffline(reason) {
    tiles.forEach(function (t) { map.removeLayer(t); });
    tiles = [];
    if (offline) { return; }
    offline = "loading";
    el.setAttribute("data-basemap", "offline");
    if (reason) { note.textContent = reason; }
    fetch(cfg.basemap, {headers: {Accept: "application/geo+json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (doc) {
        offline = L.geoJSON(doc, {
          pane: "basemap", interactive: false,
          style: function () {
            return {color: "#7b8794", weight: 1.2, fillColor: "#fbfaf4", fillOpacity: 1, className: "wodp-basemap"};
          },
          onEachFeature: function (feature) {
            var p = feature.properties || {};
            if (p.label_lat === undefined) { return; }
            var span = document.createElement("span");
            span.textContent = p.name || "";
            L.marker([p.label_lat, p.label_lon], {
              pane: "basemapLabels", interactive: false, keyboard: false,
              icon: L.divIcon({className: "wodp-district-label", html: span, iconSize: null})
            }).addTo(map);
          }
        }).addTo(map);
        var credit = doc.approximate ? words.map_offline + " (" + words.map_approximate + ")" : words.map_offline;
        map.attributionControl.addAttribution(credit);
        el.setAttribute("data-basemap-districts", String(doc.features.length));
      })
      .catch(function () { el.setAttribute("data-basemap-districts", "0"); });
  }
  if (cfg.tianditu) {
    el.setAttribute("data-basemap", "tianditu");
    cfg.tianditu.templates.forEach(function (template) {
      var layer = L.tileLayer(template, {
        subdomains: cfg.tianditu.subdomains, zoomOffset: cfg.zoom_offset, tileSize: 256,
        minZoom: cfg.min_zoom, maxZoom: cfg.max_zoom,
        attribution: '&copy; <a href="https://www.tianditu.gov.cn/">' + words.map_tianditu + "</a>"
      });
      layer.on("tileerror", function () { if (!offline) { showOffline(words.map_tiles_failed); } });
      tiles.push(layer.addTo(map));
    });
  } else {
    showOffline("");
  }

  /* layers: GeoJSON from /ogc/collections/{id}/items, loaded when first switched on */
  var loaded = {};   // id -> {group, drawn} once loaded
  var shown = {};    // id -> true while switched on

  function cell(row, tag, text) {
    var c = document.createElement(tag);
    c.textContent = text;
    row.appendChild(c);
  }
  function popup(layer, feature) {
    var box = document.createElement("div");
    var title = document.createElement("strong");
    title.textContent = layer.title;
    box.appendChild(title);
    var table = document.createElement("table");
    table.className = "wodp-popup";
    Object.keys(feature.properties || {}).slice(0, 12).forEach(function (k) {
      var row = table.insertRow();
      cell(row, "th", k);
      cell(row, "td", String(feature.properties[k]));
    });
    box.appendChild(table);
    return box;
  }
  function draw(layer, doc) {
    var drawn = 0;
    var point = {radius: 6, color: "#ffffff", weight: 1.5, fillColor: layer.color, fillOpacity: 1,
                 className: "wodp-feature"};
    var area = {color: layer.color, weight: 2, fillColor: layer.color, fillOpacity: 0.35, className: "wodp-feature"};
    var group = L.geoJSON(doc, {
      style: function (feature) {   // applied to every feature, circle markers included
        var type = feature && feature.geometry && feature.geometry.type;
        return type === "Point" || type === "MultiPoint" ? point : area;
      },
      pointToLayer: function (feature, latlng) { return L.circleMarker(latlng, point); },
      onEachFeature: function (feature, item) {
        drawn += 1;
        item.bindPopup(function () { return popup(layer, feature); });
      }
    });
    return {group: group, drawn: drawn, matched: doc.numberMatched};
  }
  function update() {
    var total = 0, count = 0, failed = false, pending = false;
    cfg.layers.forEach(function (layer) {
      if (!shown[layer.id]) { return; }
      var state = loaded[layer.id];
      if (!state || state === "loading") { pending = true; return; }
      if (state === "failed") { failed = true; return; }
      count += state.drawn;
      total += Math.max(layer.count, state.drawn);
    });
    el.setAttribute("data-features-drawn", String(count));
    el.setAttribute("data-features-drawn-state", pending ? "pending" : (failed ? "failed" : "done"));
    if (pending) { say(words.map_loading); return; }
    if (!cfg.layers.length && cfg.extent) { say(words.map_extent); return; }  // no features: the extent alone
    var text = count < total ? fill(words.map_shown_of, {n: count, total: total}) : fill(words.map_shown, {n: count});
    say(failed ? text + " " + words.map_failed : text);
  }
  function switchOn(layer) {
    shown[layer.id] = true;
    var state = loaded[layer.id];
    if (state && state.group) { state.group.addTo(map); update(); return; }
    if (state === "loading") { return; }
    loaded[layer.id] = "loading";
    update();
    fetch(layer.items, {headers: {Accept: "application/geo+json"}})
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (doc) {
        loaded[layer.id] = draw(layer, doc);
        if (shown[layer.id]) { loaded[layer.id].group.addTo(map); }
      })
      .catch(function () { loaded[layer.id] = "failed"; })
      .then(update);
  }
  function switchOff(layer) {
    shown[layer.id] = false;
    var state = loaded[layer.id];
    if (state && state.group) { map.removeLayer(state.group); }
    update();
  }

  var byId = {};
  cfg.layers.forEach(function (layer) { byId[layer.id] = layer; });
  var toggles = document.querySelectorAll(".map-layer-toggle");
  Array.prototype.forEach.call(toggles, function (box) {
    box.addEventListener("change", function () {
      var layer = byId[box.value];
      if (layer) { (box.checked ? switchOn : switchOff)(layer); }
    });
  });
  cfg.layers.forEach(function (layer) {
    var box = document.querySelector('.map-layer-toggle[value="' + CSS.escape(layer.id) + '"]');
    if (box ? box.checked : layer.checked) { switchOn(layer); }
  });
  update();
  window.wodpMap = map;  // for the browser test and for debugging in the console
}());
