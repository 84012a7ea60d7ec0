"""The offline HTML report: `page` builds it from records, `assets` holds its head, CSS and JS."""
