"""The published site: choropleth maps, charts and one page per district."""
