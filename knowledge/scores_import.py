"""Reading next year's grant lists into knowledge/data/grant_scores/results-YYYY.csv.

Three inputs: a CSV with the results columns (the compiler's `programCode,universityCode,
minScore,…` or our own), the hand-compiled matrix (group rows × university columns), and the
Ministry's PDF list of grant holders. Only aggregates leave this module: a PDF's names and
ИКТ codes are read to count rows and are never kept. A file is read and checked whole before
anything is written, and the write replaces the year's file in one rename, so a bad file
leaves the data as it was."""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from knowledge.scores import (
    FORMS,
    QUOTAS,
    RESULT_COLUMNS,
    SCORES_DIR,
    SECTIONS,
    ScoresError,
)

# The compiler's column names → ours.
_COMPILER_COLUMNS = {
    "year": "year",
    "section": "section",
    "form": "form",
    "programCode": "group",
    "programTag": "tag",
    "universityCode": "university",
    "quota": "quota",
    "minScore": "min",
    "maxScore": "max",
    "avgScore": "avg",
    "grantCount": "grants",
}
MAX_TOTAL = 140
_GROUP = re.compile(r"^\s*(B[MМ]?\d{3})\b")
_GROUP_HEADER = re.compile(r"^\s*([BВ][MМ]?\d{3})\s*[-–—]\s*\S")
_UNIVERSITY_HEADER = re.compile(r"^\s*(\d{1,3})\s*[-–—]\s*\S")
# A grant holder: №, ИКТ (a long number), name, total score at the end of the line.
_HOLDER = re.compile(r"^\s*\d{1,5}\s+\d{6,12}\s+\D+?\s+(\d{1,3})\s*$")
_QUOTA_HEADERS = {
    "ОБЩИЙ КОНКУРС": "GENERAL",
    "ЖАЛПЫ КОНКУРС": "GENERAL",
    "СЕЛЬСКАЯ КВОТА": "RURAL",
    "АУЫЛ КВОТАСЫ": "RURAL",
    "КВОТА ДЛЯ ЛИЦ ИЗ СЕЛЬСКОЙ МЕСТНОСТИ": "RURAL",
}
_MATRIX_QUOTAS = {"грант": "GENERAL", "сельская квота": "RURAL"}


@dataclass(frozen=True)
class Cell:
    """One aggregate: a list's lowest, highest and average score and its number of grants."""

    section: str
    form: str
    group: str
    tag: str
    university: int
    quota: str
    min: int
    max: int | None
    avg: float | None
    grants: int | None

    @property
    def key(self) -> tuple[str, str, str, str, int, str]:
        return (self.section, self.form, self.group, self.tag, self.university, self.quota)


@dataclass(frozen=True)
class Imported:
    year: int
    cells: tuple[Cell, ...]
    source: str
    confidence: str
    kind: str  # "csv", "matrix" or "pdf"


def _normal_group(code: str) -> str:
    return code.strip().upper().replace("В", "B").replace("М", "M")


def _check_cell(cell: Cell, where: str) -> Cell:
    if cell.section not in SECTIONS:
        raise ScoresError(f"{where}: unknown section {cell.section!r}")
    if cell.form not in FORMS:
        raise ScoresError(f"{where}: unknown form {cell.form!r} (FULL or SHORT)")
    if cell.quota not in QUOTAS:
        raise ScoresError(f"{where}: unknown quota {cell.quota!r}")
    if not re.fullmatch(r"BM?\d{3}", cell.group):
        raise ScoresError(f"{where}: {cell.group!r} is not a programme-group code")
    if not 0 <= cell.min <= MAX_TOTAL or (cell.max is not None and cell.max < cell.min):
        raise ScoresError(f"{where}: scores {cell.min}–{cell.max} are not UNT totals")
    if cell.grants is not None and cell.grants < 1:
        raise ScoresError(f"{where}: a list with {cell.grants} grants")
    return cell


def _number(value: str, where: str, what: str, *, optional: bool = False) -> float | None:
    value = value.strip()
    if value == "" and optional:
        return None
    try:
        return float(value)
    except ValueError:
        raise ScoresError(f"{where}: {what} is not a number: {value!r}") from None


def read_results_csv(text: str, year: int, name: str) -> list[Cell]:
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or [])
    mapping = {c: _COMPILER_COLUMNS.get(c, c) for c in columns}
    needed = set(RESULT_COLUMNS[:11])
    if not needed <= set(mapping.values()):
        missing = sorted(needed - set(mapping.values()))
        raise ScoresError(f"{name}: not a results table: missing columns {', '.join(missing)}")
    cells: list[Cell] = []
    for number, raw in enumerate(reader, start=2):
        where = f"{name}:{number}"
        line = {mapping[k]: (v or "") for k, v in raw.items() if k in mapping}
        row_year = _number(line["year"], where, "year")
        if row_year != year:
            raise ScoresError(f"{where}: the row is for {line['year']}, not {year}")
        minimum = _number(line["min"], where, "min")
        maximum = _number(line["max"], where, "max", optional=True)
        grants = _number(line["grants"], where, "grants", optional=True)
        avg = _number(line["avg"], where, "avg", optional=True)
        cells.append(
            _check_cell(
                Cell(
                    line["section"].strip(),
                    line["form"].strip(),
                    _normal_group(line["group"]),
                    line["tag"].strip(),
                    int(_number(line["university"], where, "university") or 0),
                    line["quota"].strip(),
                    int(minimum or 0),
                    None if maximum is None else int(maximum),
                    avg,
                    None if grants is None else int(grants),
                ),
                where,
            )
        )
    return cells


def read_matrix_csv(text: str, name: str) -> list[Cell]:
    """The hand-compiled table: "Название" rows carry the university codes of the columns, a
    group row opens a block, its "грант" and "сельская квота" rows hold the minimums."""
    codes: list[int | None] = []
    group: str | None = None
    cells: list[Cell] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        head = row[0].strip()
        if head == "Название":
            codes = [int(c) if c.strip().isdigit() else None for c in row]
            continue
        if match := _GROUP.match(head.replace("В", "B").replace("М", "M")):
            group = match.group(1)
            continue
        quota = _MATRIX_QUOTAS.get(head.lower())
        if quota is None:
            continue
        if group is None or not codes:
            raise ScoresError(f"{name}:{number}: a score row before any group or header row")
        for index, value in enumerate(row[1:], start=1):
            value = value.strip()
            if not value or value == "-" or index >= len(codes) or codes[index] is None:
                continue
            if not value.isdigit():
                raise ScoresError(f"{name}:{number}: {value!r} is not a score")
            cells.append(
                _check_cell(
                    Cell(
                        "GENERAL",
                        "FULL",
                        group,
                        "",
                        int(codes[index] or 0),
                        quota,
                        int(value),
                        None,
                        None,
                        None,
                    ),
                    f"{name}:{number}",
                )
            )
    if not cells:
        raise ScoresError(f"{name}: no scores found (is this the matrix table?)")
    return cells


def pdf_lines(path: Path) -> Iterator[str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, OSError, ValueError) as exc:
        raise ScoresError(f"{path.name}: not a readable PDF: {exc}") from None
    for page in pages:
        yield from page.splitlines()


def aggregate_holders(lines: Iterable[str], name: str, section: str = "GENERAL") -> list[Cell]:
    """The Ministry's list: a group header "B057 - …", a university header "013 - …", a quota
    header ("ОБЩИЙ КОНКУРС", "СЕЛЬСКАЯ КВОТА"), then one line per grant holder ending with the
    total score. Only each list's scores are kept; names and ИКТ are dropped as they are read."""
    scores: dict[tuple[str, int, str], list[int]] = {}
    group: str | None = None
    university: int | None = None
    quota: str | None = None
    for number, line in enumerate(lines, start=1):
        text = " ".join(line.split())
        if not text:
            continue
        upper = text.upper()
        if upper in _QUOTA_HEADERS:
            quota = _QUOTA_HEADERS[upper]
            continue
        if match := _GROUP_HEADER.match(text):
            group, university, quota = _normal_group(match.group(1)), None, None
            continue
        if match := _HOLDER.match(text):
            if group is None or university is None or quota is None:
                raise ScoresError(
                    f"{name}: line {number}: a grant holder before its group, university "
                    "and quota headers"
                )
            score = int(match.group(1))
            if score > MAX_TOTAL:
                raise ScoresError(f"{name}: line {number}: a total of {score} (max {MAX_TOTAL})")
            scores.setdefault((group, university, quota), []).append(score)
            continue
        if match := _UNIVERSITY_HEADER.match(text):
            university, quota = int(match.group(1)), None
    if not scores:
        raise ScoresError(f"{name}: no grant holders found (is this the Ministry's list?)")
    return [
        Cell(
            section,
            "FULL",
            group,
            "",
            university,
            quota,
            min(values),
            max(values),
            round(sum(values) / len(values), 1),
            len(values),
        )
        for (group, university, quota), values in sorted(scores.items())
    ]


def read_file(path: Path, year: int, section: str = "GENERAL") -> Imported:
    """Read and check a whole file; nothing is written here."""
    if not 2000 <= year <= 2100:
        raise ScoresError(f"{year} is not an admission year")
    try:
        head = path.read_bytes()[:5]
    except OSError as exc:
        raise ScoresError(f"{path.name}: cannot read: {exc.strerror}") from None
    if head.startswith(b"%PDF"):
        cells = aggregate_holders(pdf_lines(path), path.name, section)
        return Imported(year, tuple(cells), "moshe_lists", "confirmed", "pdf")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ScoresError(f"{path.name}: neither a PDF nor a UTF-8 CSV file") from None
    if any(line.startswith("Название,") for line in text.splitlines()[:5]):
        cells = read_matrix_csv(text, path.name)
        return Imported(year, tuple(cells), "matrix", "unconfirmed", "matrix")
    cells = read_results_csv(text, year, path.name)
    return Imported(year, tuple(cells), "moshe_lists_compiled", "secondary", "csv")


def duplicates(cells: Iterable[Cell]) -> list[tuple[str, str, str, str, int, str]]:
    seen: set[tuple[str, str, str, str, int, str]] = set()
    twice = []
    for cell in cells:
        if cell.key in seen:
            twice.append(cell.key)
        seen.add(cell.key)
    return twice


def target_path(directory: Path, year: int) -> Path:
    return directory / SCORES_DIR / f"results-{year}.csv"


def render_csv(imported: Imported) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for c in sorted(imported.cells, key=lambda c: c.key):
        writer.writerow(
            [
                imported.year,
                c.section,
                c.form,
                c.group,
                c.tag,
                c.university,
                c.quota,
                c.min,
                "" if c.max is None else c.max,
                "" if c.avg is None else c.avg,
                "" if c.grants is None else c.grants,
                imported.source,
                imported.confidence,
            ]
        )
    return out.getvalue()


def read_stored(directory: Path, year: int) -> list[Cell]:
    path = target_path(directory, year)
    if not path.exists():
        return []
    return read_results_csv(path.read_text(encoding="utf-8"), year, path.name)


@dataclass(frozen=True)
class Change:
    added: int
    removed: int
    changed: int
    unchanged: int
    examples: tuple[str, ...]


def compare(old: Iterable[Cell], new: Iterable[Cell], examples: int = 8) -> Change:
    before = {c.key: c for c in old}
    after = {c.key: c for c in new}
    changed = [k for k in after if k in before and before[k] != after[k]]
    shown = []
    for key in changed[:examples]:
        shown.append(
            f"{key[2]} {key[0]}/{key[5]} university {key[4]}: "
            f"min {before[key].min} → {after[key].min}"
        )
    return Change(
        added=len(after.keys() - before.keys()),
        removed=len(before.keys() - after.keys()),
        changed=len(changed),
        unchanged=len(after.keys() & before.keys()) - len(changed),
        examples=tuple(shown),
    )


def write(directory: Path, imported: Imported) -> Path:
    """Replace the year's file in one rename (readers see the old file or the new, whole)."""
    if twice := duplicates(imported.cells):
        raise ScoresError(f"the file has the same list twice: {twice[0]}")
    path = target_path(directory, imported.year)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".import-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(render_csv(imported))
        os.chmod(temp, 0o644)  # mkstemp makes it private; the data is public and shipped
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class Agreement:
    equal: int
    compared: int
    only_matrix: int
    disagreements: tuple[
        tuple[str, int, str, int, int], ...
    ]  # group, university, quota, matrix, results

    @property
    def share(self) -> float:
        return self.equal / self.compared if self.compared else 0.0


def agreement(matrix: Iterable[Cell], results: Iterable[Cell]) -> Agreement:
    """How often the hand-compiled matrix gives the same minimum as the results of the same
    year, per group × university × quota of the group's own order (GENERAL, or HEALTH_MINISTRY
    for medicine), FULL programmes without a partner tag."""
    official: dict[tuple[str, int, str], int] = {}
    for cell in results:
        if cell.form == "FULL" and not cell.tag and cell.section in ("GENERAL", "HEALTH_MINISTRY"):
            official[(cell.group, cell.university, cell.quota)] = cell.min
    equal = compared = only = 0
    differ = []
    for cell in matrix:
        key = (cell.group, cell.university, cell.quota)
        if key not in official:
            only += 1
            continue
        compared += 1
        if official[key] == cell.min:
            equal += 1
        else:
            differ.append((*key, cell.min, official[key]))
    return Agreement(equal, compared, only, tuple(sorted(differ)))
