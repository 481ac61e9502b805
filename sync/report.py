"""What a sync run did: counts per step, rejected rows with reasons, and how it is shown."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sync.models import SyncRun, SyncStatus

# The seed's order; each name is one step of the run and one line of the report.
STEPS: tuple[tuple[str, str], ...] = (
    ("departments_level1", "一级部门"),
    ("departments_level2", "二级部门"),
    ("people", "人员"),
    ("relations", "部门人员关系"),
    ("roles", "用户角色"),
    ("scopes", "事项可见范围"),
)
STEP_LABELS = dict(STEPS)
REJECTED_KEPT = 500  # rejected rows (and warnings) kept in a run's report; the total is kept too

STATUS_LABELS = {
    SyncStatus.OK: "成功",
    SyncStatus.REFUSED: "已拒绝（未做任何修改）",
    SyncStatus.FAILED: "失败（已回滚，未做任何修改）",
}


COLUMNS = ("新增", "更新", "停用", "未变", "拒绝")


def _pad(text: str, width: int, *, right: bool = False) -> str:
    """Pad for a terminal where CJK characters take two columns."""
    used = sum(2 if ord(c) > 0x2E80 else 1 for c in text)
    space = " " * max(0, width - used)
    return space + text if right else text + space


@dataclass
class StepCounts:
    inserted: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0
    rejected: int = 0

    @property
    def changes(self) -> int:
        return self.inserted + self.updated + self.deactivated

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Rejection:
    """A staging row the sync did not take (or took with a warning), and why."""

    table: str
    key: str | None
    reason: str

    def as_dict(self) -> dict[str, str | None]:
        return {"table": self.table, "key": self.key, "reason": self.reason}


@dataclass
class Problems:
    """Rejected rows and warnings of one run: all counted, the first REJECTED_KEPT kept."""

    rejected: list[Rejection] = field(default_factory=list)
    rejected_total: int = 0
    warnings: list[Rejection] = field(default_factory=list)
    warnings_total: int = 0

    def reject(self, table: str, key: str | None, reason: str) -> None:
        self.rejected_total += 1
        if len(self.rejected) < REJECTED_KEPT:
            self.rejected.append(Rejection(table, key, reason))

    def warn(self, table: str, key: str | None, reason: str) -> None:
        self.warnings_total += 1
        if len(self.warnings) < REJECTED_KEPT:
            self.warnings.append(Rejection(table, key, reason))


@dataclass
class SyncReport:
    status: SyncStatus
    trigger: str
    forced: bool
    started_at: datetime
    finished_at: datetime
    duration: float  # seconds
    steps: dict[str, StepCounts]
    problems: Problems
    message: str | None = None
    run_id: int | None = None
    push: dict[str, Any] | None = None

    @property
    def changes(self) -> int:
        return sum(s.changes for s in self.steps.values())

    @property
    def ok(self) -> bool:
        return self.status is SyncStatus.OK

    def counts_dict(self) -> dict[str, Any]:
        return {name: self.steps[name].as_dict() for name, _label in STEPS}

    @classmethod
    def from_run(cls, run: SyncRun) -> SyncReport:
        problems = Problems(
            rejected=[Rejection(**r) for r in run.rejected],
            rejected_total=run.rejected_total,
            warnings=[Rejection(**w) for w in run.warnings],
            warnings_total=len(run.warnings),
        )
        return cls(
            status=run.status,
            trigger=run.trigger,
            forced=run.forced,
            started_at=run.started_at,
            finished_at=run.finished_at or run.started_at,
            duration=run.duration,
            steps={name: StepCounts(**run.counts.get(name, {})) for name, _label in STEPS},
            problems=problems,
            message=run.message,
            run_id=run.id,
            push=run.push,
        )

    def lines(self) -> list[str]:
        """The report as the CLI prints it (zh_CN)."""
        head = f"同步 #{self.run_id}" if self.run_id is not None else "同步"
        forced = "，强制执行" if self.forced else ""
        out = [
            f"{head}：{STATUS_LABELS[self.status]}（用时 {self.duration:.2f} 秒{forced}）",
            "  " + _pad("步骤", 14) + "".join(_pad(h, 8, right=True) for h in COLUMNS),
        ]
        for name, label in STEPS:
            c = self.steps[name]
            values = (c.inserted, c.updated, c.deactivated, c.unchanged, c.rejected)
            out.append("  " + _pad(label, 14) + "".join(f"{v:>8}" for v in values))
        out.append(f"  共 {self.changes} 项变更，拒绝 {self.problems.rejected_total} 行。")
        if self.message:
            out.append(f"  原因：{self.message}")
        shown = self.problems.rejected[:20]
        if shown:
            out.append("  被拒绝的行：")
            out.extend(f"    {r.table} {r.key or '（无键）'}：{r.reason}" for r in shown)
            more = self.problems.rejected_total - len(shown)
            if more > 0:
                out.append(f"    …… 另有 {more} 行，见管理页面的同步报告")
        warnings = self.problems.warnings[:10]
        if warnings:
            out.append("  提醒：")
            out.extend(f"    {w.table} {w.key or '（无键）'}：{w.reason}" for w in warnings)
            more = self.problems.warnings_total - len(warnings)
            if more > 0:
                out.append(f"    …… 另有 {more} 条提醒")
        return out
