"""The benchmark report: ``attune report runs/<id> [runs/<id2>] [--reference table.csv] [--out DIR]``.

Writes ``report.md`` and a self-contained ``report.html`` (plots embedded, no
URL): every summary metric per method and per dataset, session index and
conflict group with bootstrap intervals over users, paired comparisons of the
methods (sign tests, Holm-corrected), plots, the judge's audit, what the
learned user vectors know, where a session's time went, and optionally a published table and other runs
beside the first. docs/benchmark.md ("The report") describes the statistics;
the modules are collect (streaming read), stats, analysis, vectors, plots,
sections and render.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attune.orchestrator.benchmark.summary import SUMMARY
from attune.orchestrator.report import sections
from attune.orchestrator.report.analysis import analyze
from attune.orchestrator.report.collect import ReportError, read_reference, read_run
from attune.orchestrator.report.render import to_html, write_markdown
from attune.orchestrator.report.stats import RESAMPLES

__all__ = ["ReportError", "Written", "write_report"]


@dataclass(frozen=True)
class Written:
    """The two reports written, and the line they open with (what the run can and cannot tell apart)."""

    markdown: Path
    html: Path
    headline: str


def write_report(run_dirs: list[Path], out_dir: Path | None = None, reference: Path | None = None,
                 resamples: int = RESAMPLES, seed: int = 0) -> Written:
    """Write report.md (its plots as PNG files under plots/) and report.html into ``out_dir`` (default: the
    first run folder)."""
    if not run_dirs:
        raise ReportError("no run folder given")
    names = tuple(SUMMARY)
    published = read_reference(reference, names) if reference else []
    first, *others = [analyze(read_run(Path(d), names), resamples, seed) for d in run_dirs]
    blocks = [*sections.overview(first), *sections.bounds(first), *sections.per_method(first),
              *sections.comparisons(first)]
    if published:
        blocks += sections.reference(first, published, str(reference))
    for other in others:
        blocks += sections.versus(first, other)
    blocks += [*sections.plots(first), *sections.judge(first), *sections.user_vectors(first),
               *sections.time_profile(first), *sections.breakdowns(first)]
    out_dir = Path(out_dir or run_dirs[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = write_markdown(blocks, out_dir / "report.md")
    html = out_dir / "report.html"
    html.write_text(to_html(blocks, f"Benchmark report: {first.run.folder}"))
    return Written(markdown, html, sections.run_headline(first))
