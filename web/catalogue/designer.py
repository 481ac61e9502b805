"""English texts of the designer pages (see `web.catalogue`)."""

CATALOGUE: dict[str, str] = {}
