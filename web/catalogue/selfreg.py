"""English texts of the selfreg pages (see `web.catalogue`)."""

CATALOGUE: dict[str, str] = {}
