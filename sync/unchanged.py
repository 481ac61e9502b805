"""PostgreSQL: find the people rows that would change nothing, in one set-based statement.

A nightly feed is mostly the same as last night. Reading every row into Python only to find
that it matches its `person` row is what made a no-change run slow, so on PostgreSQL the
sync first compares the staging rows with the system rows in SQL and records the keys of
the rows that are certainly unchanged in the temporary table `UNCHANGED`; the merge in
`sync.services` then leaves those keys out of both of its streams and counts them.

The comparison is conservative: a row is put in `UNCHANGED` only if it is the only row with
its key, passes the same checks as `sync.feed.check_person` (key format, name, status,
mobile, email, lengths, an active department), and maps to exactly the values the `person`
row holds (kind, number, name, gender, mobile, status, department; email and post for
staff; the profile keys the sync owns for students). Anything else, including every row the
checks would reject, goes through the Python path as before, so rejections and warnings are
reported the same way. SQLite (tests, the embedded default) always takes the Python path.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import BigInteger, Boolean, Column, MetaData, Table, Text, text
from sqlalchemy.orm import Session

from hall.models import GrantSource, PersonKind, PersonStatus, RoleCode
from sync.feed import CODE_MAX, EMAIL_MAX, NAME_MAX, POST_MAX, STAFF_ACTIVE, STUDENT_ACTIVE

# Not in the hall's metadata: created per run, dropped when the run's transaction ends.
UNCHANGED = Table(
    "sync_unchanged",
    MetaData(),
    Column("userid", Text, primary_key=True),
    Column("kind", Text),
    Column("active", Boolean),
    Column("counsellor", Text),  # FDYGH, students only
    Column("counsellor_id", BigInteger),
    prefixes=["TEMPORARY"],
)

_CREATE = """
CREATE TEMPORARY TABLE sync_unchanged (
    userid text PRIMARY KEY,
    kind text NOT NULL,
    active boolean NOT NULL,
    counsellor text,
    counsellor_id bigint
) ON COMMIT DROP
"""

# The feed normalised as `sync.feed.people_stream` does (trim, empty is missing), keys that
# occur once, mapped like `sync.feed.check_person` and compared with `person`.
_FILL = """
INSERT INTO sync_unchanged (userid, kind, active, counsellor, counsellor_id)
WITH feed AS (
    SELECT CAST(:staff AS text) AS kind, trim("GH") AS k,
           nullif(trim("XM"), '') AS xm, nullif(trim("XB"), '') AS xb,
           nullif(trim("BMDM"), '') AS dept, nullif(trim("SJH"), '') AS sjh,
           nullif(trim("DZYX"), '') AS dzyx, nullif(trim("ZW"), '') AS zw,
           nullif(trim("RYZT"), '') AS st, CAST(:staff_active AS text) AS active_word,
           CAST(NULL AS text) AS zymc, CAST(NULL AS text) AS bjmc,
           CAST(NULL AS text) AS nj, CAST(NULL AS text) AS xslb, CAST(NULL AS text) AS fdygh
    FROM "JZG_T_USER" WHERE trim("GH") <> ''
    UNION ALL
    SELECT CAST(:student AS text), trim("XH"),
           nullif(trim("XM"), ''), nullif(trim("XB"), ''),
           nullif(trim("YXDM"), ''), nullif(trim("SJH"), ''),
           NULL, NULL,
           nullif(trim("XJZT"), ''), CAST(:student_active AS text),
           nullif(trim("ZYMC"), ''), nullif(trim("BJMC"), ''),
           nullif(trim("NJ"), ''), nullif(trim("XSLB"), ''), nullif(trim("FDYGH"), '')
    FROM "XS_JBXX" WHERE trim("XH") <> ''
), counted AS (
    SELECT feed.*, count(*) OVER (PARTITION BY k COLLATE "C") AS n FROM feed
), mapped AS (
    SELECT counted.*,
           CASE xb WHEN '1' THEN '男' WHEN '男' THEN '男' WHEN '男性' THEN '男'
                   WHEN '2' THEN '女' WHEN '女' THEN '女' WHEN '女性' THEN '女' END AS gender,
           replace(replace(CASE WHEN sjh LIKE '+86%' THEN substr(sjh, 4) ELSE sjh END,
                           ' ', ''), '-', '') AS mobile,
           CASE WHEN st = active_word THEN CAST(:active AS text)
                ELSE CAST(:inactive AS text) END AS status
    FROM counted WHERE n = 1
)
SELECT p.userid, m.kind, m.status = :active, m.fdygh, p.counsellor_id
FROM mapped m
JOIN person p ON p.userid = m.k
JOIN department d ON d.id = p.department_id AND d.code = m.dept
WHERE m.k ~ :key_re AND length(m.k) <= :code_max
  AND m.xm IS NOT NULL AND length(m.xm) <= :name_max
  AND m.st IS NOT NULL
  AND NOT (m.dept = ANY(:inactive_codes))
  AND (m.sjh IS NULL OR m.mobile ~ :mobile_re)
  AND (m.zw IS NULL OR length(m.zw) <= :post_max)
  AND p.kind = m.kind AND p.number = m.k AND p.name = m.xm AND p.status = m.status
  AND p.gender IS NOT DISTINCT FROM m.gender
  AND p.mobile IS NOT DISTINCT FROM (CASE WHEN m.sjh IS NULL THEN NULL ELSE m.mobile END)
  AND CASE WHEN m.kind = :staff THEN
           (m.dzyx IS NULL
            OR (length(m.dzyx) <= :email_max
                AND m.dzyx ~ :email_re))
           AND p.email IS NOT DISTINCT FROM m.dzyx AND p.post IS NOT DISTINCT FROM m.zw
      ELSE p.profile -> 'major' IS NOT DISTINCT FROM to_jsonb(m.zymc)
           AND p.profile -> 'class' IS NOT DISTINCT FROM to_jsonb(m.bjmc)
           AND p.profile -> 'grade' IS NOT DISTINCT FROM to_jsonb(m.nj)
           AND p.profile -> 'level' IS NOT DISTINCT FROM to_jsonb(m.xslb)
      END
"""

# After the people are written: the unchanged active students whose counsellor (FDYGH → an
# active staff member) differs from the one they have, or who name an unknown counsellor.
COUNSELLORS = """
SELECT u.userid, u.counsellor, u.counsellor_id
FROM sync_unchanged u
LEFT JOIN person c ON c.userid = u.counsellor AND c.kind = :staff AND c.status = :active
WHERE u.kind = :student AND u.active
  AND (c.id IS DISTINCT FROM u.counsellor_id OR (u.counsellor IS NOT NULL AND c.id IS NULL))
ORDER BY u.userid COLLATE "C"
"""

PARAMS = {
    "staff": PersonKind.STAFF.value,
    "student": PersonKind.STUDENT.value,
    "active": PersonStatus.ACTIVE.value,
    "inactive": PersonStatus.INACTIVE.value,
}


def mark_unchanged(session: Session, inactive_departments: Collection[str]) -> None:
    """Fill `UNCHANGED` for this run.

    `inactive_departments`: the codes of the departments that are inactive after this run
    (a person in one of them is never unchanged here: the checks in Python decide).
    """
    # The data center has just rewritten the staging tables: give the planner their size.
    session.execute(text('ANALYZE "JZG_T_USER", "XS_JBXX"'))
    # A run inside an outer transaction (tests) may find the last run's table still there.
    session.execute(text("DROP TABLE IF EXISTS pg_temp.sync_unchanged"))
    session.execute(text(_CREATE))
    # The filters over the normalised feed defeat the planner's row estimates (it expects
    # one row, gets 66,000); a nested loop over such an estimate is quadratic. Hash joins
    # are right for this statement whatever the estimates say.
    nestloop = session.scalar(text("SELECT current_setting('enable_nestloop')"))
    session.execute(text("SET LOCAL enable_nestloop = off"))
    session.execute(
        text(_FILL),
        {
            **PARAMS,
            "staff_active": STAFF_ACTIVE,
            "student_active": STUDENT_ACTIVE,
            "key_re": "^[0-9A-Za-z_@.-]+$",
            "mobile_re": "^1[3-9][0-9]{9}$",
            "email_re": r"^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$",
            "code_max": CODE_MAX,
            "name_max": NAME_MAX,
            "post_max": POST_MAX,
            "email_max": EMAIL_MAX,
            "inactive_codes": sorted(inactive_departments),
        },
    )
    session.execute(text("SELECT set_config('enable_nestloop', :v, true)"), {"v": nestloop})
    session.execute(text("ANALYZE sync_unchanged"))


# The derived grants (`sync.services._derived`) of every active member, less manual grants.
_WANTED = """
CREATE TEMPORARY TABLE sync_wanted ON COMMIT DROP AS
SELECT DISTINCT w.person_id, w.role_code, w.department_id
FROM (
    SELECT p.id AS person_id,
           CASE WHEN p.kind = :student THEN CAST(:r_student AS text)
                ELSE CAST(:r_staff AS text) END AS role_code,
           CAST(NULL AS bigint) AS department_id
    FROM person p WHERE p.kind IN (:staff, :student) AND p.status = :active
    UNION ALL
    SELECT p.id, CAST(:r_head AS text), p.department_id
    FROM person p
    WHERE p.kind = :staff AND p.status = :active AND p.department_id IS NOT NULL
      AND p.post = ANY(:head_posts)
    UNION ALL
    SELECT p.id, CAST(:r_deputy AS text), p.department_id
    FROM person p
    WHERE p.kind = :staff AND p.status = :active AND p.department_id IS NOT NULL
      AND p.post = ANY(:deputy_posts)
    UNION ALL
    SELECT p.id, CAST(:r_counsellor AS text), p.department_id
    FROM person p
    WHERE p.kind = :staff AND p.status = :active AND p.department_id IS NOT NULL
      AND (p.post = ANY(:counsellor_posts) OR p.id IN (
          SELECT s.counsellor_id FROM person s
          WHERE s.kind = :student AND s.status = :active AND s.counsellor_id IS NOT NULL))
) w
WHERE NOT EXISTS (
    SELECT 1 FROM role_grant g
    WHERE g.source = CAST(:manual AS text)
      AND g.person_id = w.person_id AND g.role_code = w.role_code
      AND coalesce(g.department_id, 0) = coalesce(w.department_id, 0))
"""

_GRANT = """
INSERT INTO role_grant (person_id, role_code, department_id, source)
SELECT w.person_id, w.role_code, w.department_id, CAST(:sync AS text) FROM sync_wanted w
WHERE NOT EXISTS (
    SELECT 1 FROM role_grant g
    WHERE g.source = CAST(:sync AS text) AND g.person_id = w.person_id AND g.role_code = w.role_code
      AND coalesce(g.department_id, 0) = coalesce(w.department_id, 0))
"""

_REVOKE = """
DELETE FROM role_grant g
WHERE g.source = CAST(:sync AS text) AND NOT EXISTS (
    SELECT 1 FROM sync_wanted w
    WHERE g.person_id = w.person_id AND g.role_code = w.role_code
      AND coalesce(g.department_id, 0) = coalesce(w.department_id, 0))
"""


def derived_grants(
    session: Session,
    *,
    head_posts: Collection[str],
    deputy_posts: Collection[str],
    counsellor_posts: Collection[str],
) -> tuple[int, int, int]:
    """The roles step in SQL: (granted, revoked, wanted) derived grants."""
    params = {
        **PARAMS,
        "r_student": RoleCode.STUDENT.value,
        "r_staff": RoleCode.STAFF.value,
        "r_head": RoleCode.DEPT_HEAD.value,
        "r_deputy": RoleCode.DEPUTY_SECRETARY.value,
        "r_counsellor": RoleCode.COUNSELLOR.value,
        "manual": GrantSource.MANUAL.value,
        "sync": GrantSource.SYNC.value,
        "head_posts": sorted(head_posts),
        "deputy_posts": sorted(deputy_posts),
        "counsellor_posts": sorted(counsellor_posts),
    }
    session.execute(text("DROP TABLE IF EXISTS pg_temp.sync_wanted"))
    session.execute(text(_WANTED), params)
    session.execute(text("ANALYZE sync_wanted"))
    wanted = session.scalar(text("SELECT count(*) FROM sync_wanted")) or 0
    conn = session.connection()
    granted = conn.execute(text(_GRANT), params).rowcount
    revoked = conn.execute(text(_REVOKE), params).rowcount
    return granted, revoked, wanted
