"""The data center's staging tables (中间表), exactly as DESIGN.md names them.

Every column is text: the data center writes strings, and a bad value must reach our
validation (and the run report) instead of failing the data center's own insert. There is
no key constraint for the same reason: a duplicated BMDM is a feed error we report.
"""

from __future__ import annotations

from sqlalchemy import Column, Table, Text

from hall.models import Base


def _table(name: str, *columns: str) -> Table:
    return Table(name, Base.metadata, *(Column(c, Text) for c in columns))


# Departments: code, name, parent code (empty on the first level), level, order, valid flag.
JZG_T_BM = _table("JZG_T_BM", "BMDM", "BMMC", "SJBMDM", "BMJB", "PX", "SFYX")

# Staff: staff number, name, gender, department, mobile, email, post, status (在职 = active).
JZG_T_USER = _table("JZG_T_USER", "GH", "XM", "XB", "BMDM", "SJH", "DZYX", "ZW", "RYZT")

# Students: student number, name, gender, college, major, class, grade, kind (本科, 硕士 …),
# enrolment status (在读 = enrolled), mobile, counsellor's staff number.
XS_JBXX = _table(
    "XS_JBXX", "XH", "XM", "XB", "YXDM", "ZYMC", "BJMC", "NJ", "XSLB", "XJZT", "SJH", "FDYGH"
)

STAGING_TABLES = (JZG_T_BM, JZG_T_USER, XS_JBXX)
