"""English texts of the web view by area, merged into `web.i18n.CATALOGUE`.

Each module holds `CATALOGUE: dict[str, str]` (zh_CN message id → English). Areas that
grow on their own (the designer, self-registration) keep their texts here so that work on
one area does not touch another's file.
"""
