"""The published site: choropleth maps, charts and one page per district.

Modules, in the order a page is made:

* :mod:`~geo311.site.build` — :func:`build_site` from the indicator tables in
  memory (plan, staging folder, publication with the manifest last);
* :mod:`~geo311.site.layer` — a layer as the site shows it (title, area labels);
* :mod:`~geo311.site.index_page`, :mod:`~geo311.site.map_page`,
  :mod:`~geo311.site.district_page` — the three kinds of page, rendered by
  :mod:`~geo311.site.render` (autoescaping templates in ``templates/``);
* :mod:`~geo311.site.headlines`, :mod:`~geo311.site.text`,
  :mod:`~geo311.site.html_tables`, :mod:`~geo311.site.page_charts`,
  :mod:`~geo311.site.membership` — what the pages say;
* :mod:`~geo311.site.maps` (choropleth composition), :mod:`~geo311.site.elements`
  (folium elements that render once), :mod:`~geo311.site.legend`,
  :mod:`~geo311.site.classify`, :mod:`~geo311.site.specs`,
  :mod:`~geo311.site.prepare`, :mod:`~geo311.site.static` (PNG),
  :mod:`~geo311.site.simplify`, :mod:`~geo311.site.assets` (vendored Leaflet);
* :mod:`~geo311.site.charts` and :mod:`~geo311.site.line_chart` — SVG charts;
* :mod:`~geo311.site.escape` — escaping for HTML and JSON data blocks.
"""
