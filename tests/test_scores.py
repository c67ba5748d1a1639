"""Grant passing scores: the shipped data (real rows of the Ministry's lists), staff queries,
the outlook answers, and `talapker scores import` for next year's CSV or PDF."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from knowledge.answers import AnswerRenderer
from knowledge.base import DEFAULT_DATA_DIR, KnowledgeBase, load_knowledge
from knowledge.router import Router
from knowledge.scores import MAIN_SECTIONS, ScoresError, scores_view, status_of
from knowledge.scores_import import (
    aggregate_holders,
    agreement,
    read_matrix_csv,
    read_results_csv,
)
from knowledge.scores_report import StaffQuery, resolve, rows_as_dicts, run_import
from knowledge.service import Knowledge
from tests.test_knowledge_answers import allowed_numbers, numbers_shown

TODAY = date(2026, 11, 25)
TALAPKER = str(Path(sys.executable).with_name("talapker"))
# ../shared beside the clone (CI, /work/main), or two levels up from a worktree in /work/wt/.
SHARED = next(
    (
        folder / "shared" / "domain" / "grant_scores"
        for folder in Path(__file__).resolve().parents[1].parents
        if (folder / "shared" / "domain" / "grant_scores").is_dir()
    ),
    Path("/nonexistent"),
)
FONT = Path(__import__("matplotlib").get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="module")
def renderer(kb: KnowledgeBase) -> AnswerRenderer:
    return AnswerRenderer(kb)


@pytest.fixture(scope="module")
def router(kb: KnowledgeBase) -> Router:
    return Router(kb)


# ------------------------------------------------------------------------ the data
def test_real_rows_national_and_university_minimums(kb: KnowledgeBase) -> None:
    scores = kb.grant_scores
    national = scores.national_minimum("B057", 2025, "general")
    assert national is not None and national.min == 99  # lowest GENERAL/FULL minimum in 2025
    assert national.provenance.as_of == 2025 and national.provenance.confidence.value == "secondary"
    assert "lists of grant holders" in national.provenance.source
    assert "mytest.kz" in (national.provenance.note or "")  # the compiler, for staff
    (rural,) = scores.list_rows("B057", 2026, "rural", university=2)  # КазАТУ, rural quota
    assert (rural.min, rural.max, rural.grants) == (64, 96, 169)
    (kaznu,) = scores.list_rows("B057", 2026, "general", university=27)
    assert (kaznu.min, kaznu.grants) == (100, 82)


def test_medicine_comes_from_the_health_ministry_order_and_short_forms_never_count(
    kb: KnowledgeBase,
) -> None:
    scores = kb.grant_scores
    assert scores.canonical_group("B086") == "BM086"  # the classifier's code finds the new one
    medicine = scores.national_minimum("BM086", 2026, "general")
    assert medicine is not None and medicine.section == "HEALTH_MINISTRY" and medicine.min == 114
    # B057's shortened programmes had a 35 (another test): the passing score ignores it.
    assert min(r.min for r in scores.rows_for("B057", 2026) if r.form == "SHORT") == 35
    for group in scores.groups:
        for year in scores.years:
            for list_id in ("general", "rural"):
                row = scores.national_minimum(group, year, list_id)
                if row is not None:
                    assert row.form == "FULL" and row.section in MAIN_SECTIONS


def test_the_2025_matrix_agrees_with_the_results_as_the_notes_say() -> None:
    if not SHARED.is_dir():
        pytest.skip("shared/domain/grant_scores is not beside the repository")
    matrix = read_matrix_csv((SHARED / "matrix-2025-2026.csv").read_text("utf-8"), "matrix")
    results = read_results_csv((SHARED / "results-2025.csv").read_text("utf-8"), 2025, "r")
    found = agreement(matrix, results)
    assert (found.equal, found.compared) == (1472, 1504)
    notes = (DEFAULT_DATA_DIR / "grant_scores" / "README.md").read_text("utf-8")
    assert "1,472 of 1,504" in notes


# ------------------------------------------------------------------------ staff queries
def test_unknown_group_university_and_year_get_clear_messages(kb: KnowledgeBase) -> None:
    scores = kb.grant_scores
    with pytest.raises(ScoresError, match="no grant scores for group 'B999'; nearest: B09"):
        resolve(scores, StaffQuery("B999"))
    with pytest.raises(ScoresError, match="no university 'КазНКУ'; nearest: 27 КазНУ"):
        resolve(scores, StaffQuery("B057", university="КазНКУ"))
    with pytest.raises(ScoresError, match="no grant scores for B057 in 2019; years with data: 20"):
        resolve(scores, StaffQuery("B057", year=2019))


def test_without_a_university_the_first_row_per_quota_is_the_national_minimum(
    kb: KnowledgeBase,
) -> None:
    rows = rows_as_dicts(kb.grant_scores, resolve(kb.grant_scores, StaffQuery("B057", year=2025)))
    firsts = {}
    for row in rows:
        firsts.setdefault(row["quota"], row)
    assert firsts["general"]["min"] == 99 and firsts["general"]["year"] == 2025
    assert min(r["min"] for r in rows if r["quota"] == "general") == 99
    assert set(firsts["general"]) >= {
        "year", "group", "university_code", "university_name", "quota",
        "min", "max", "avg", "grants", "source",
    }  # fmt: skip


def test_cli_json_for_one_university(tmp_path: Path) -> None:
    done = subprocess.run(
        [TALAPKER, "scores", "B057", "--university", "КазНУ", "--quota", "general", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    (row,) = json.loads(done.stdout)
    assert (row["year"], row["university_code"], row["min"], row["grants"]) == (2026, 27, 100, 82)
    bad = subprocess.run([TALAPKER, "scores", "B057", "--year", "2019"], capture_output=True)
    assert bad.returncode == 1 and b"years with data" in bad.stderr and not bad.stdout


# ------------------------------------------------------------------------ the outlook
def test_a_score_exactly_on_a_minimum_fits_and_five_below_is_close(kb: KnowledgeBase) -> None:
    assert status_of(100, 100) == "fits"
    assert status_of(95, 100) == "close" and status_of(94, 100) == "below"
    statuses = {}
    for total in (100, 95, 94):
        view = scores_view(kb.grant_scores, ["B057"], year=2026, total=total)
        lines = {line.university.code: line.status for line in view.groups[0].lists[0].lines}
        statuses[total] = lines.get(27)  # КазНУ's minimum was exactly 100
    assert statuses == {100: "fits", 95: "close", 94: None}


QUESTIONS = [
    ("проходной балл на B057 в КазНУ", "ru", ["КазНУ", "минимум 100", "2026"]),
    ("какой балл нужен на грант на медицину", "ru", ["заказ Минздрава", "114"]),
    ("passing score for B057 in 2025", "en", ["national minimum 99", "2025"]),
    ("ауыл квотасы B001 қанша балл", "kk", ["ауыл квотасы: ел бойынша ең төменгі балл 87"]),
    ("куда я прохожу с 98 баллами на педагогику", "ru", ["✅", "минимум по стране"]),
]


@pytest.mark.parametrize(("question", "lang", "expected"), QUESTIONS)
def test_passing_score_questions_get_numbers_with_year_source_and_caveat(
    router: Router, renderer: AnswerRenderer, question: str, lang: str, expected: list[str]
) -> None:
    route = router.route(question)
    answer = renderer.answer(route, TODAY)
    assert answer.lang == lang
    for part in expected:
        assert part in answer.text, (part, answer.text)
    caveat = {"kk": "кепілдік емес", "ru": "ориентир, а не гарантия", "en": "not a guarantee"}
    source = {
        "kk": "грант иегерлерінің тізімдері",
        "ru": "списки обладателей грантов",
        "en": "lists of grant holders",
    }
    assert caveat[lang] in answer.text and source[lang] in answer.text
    assert not numbers_shown(answer) - allowed_numbers(answer)  # every number is sourced
    assert len(answer.html) < 4096


def test_rural_quota_comes_from_the_profile(renderer: AnswerRenderer, router: Router) -> None:
    route = router.route("passing score for B057")
    city = renderer.answer(route, TODAY, profile={"settlement": "city"})
    village = renderer.answer(route, TODAY, profile={"settlement": "rural"})
    assert "rural quota" not in city.text and "rural quota: national minimum 63" in village.text
    assert "your profile says you live in a village" in village.text
    unknown = renderer.answer(route, TODAY, profile={})
    assert "A rural-school graduate?" in unknown.text


def test_a_score_under_the_threshold_says_so_first(
    renderer: AnswerRenderer, router: Router
) -> None:
    answer = renderer.answer(router.route("45 баллов мат-инфо грант B057"), TODAY)
    lines = answer.text.splitlines()
    assert lines[1].startswith("⛔ Ваши 45 баллов ниже порога (50)")
    assert "✅ КазНУ" not in answer.text


def test_a_year_without_data_is_named(renderer: AnswerRenderer, router: Router) -> None:
    answer = renderer.answer(router.route("passing score for B057 in 2021"), TODAY)
    assert "I have no grant passing scores for 2021" in answer.text
    assert "2024, 2025, 2026" in answer.text


# ------------------------------------------------------------------------ import
def _data_copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DEFAULT_DATA_DIR, target)
    return target


RESULTS_CSV = (
    "year,section,form,programCode,programTag,universityCode,quota,minScore,maxScore,avgScore,"
    "grantCount\n"
    "2027,GENERAL,FULL,B057,,27,GENERAL,104,120,110.0,70\n"
    "2027,GENERAL,FULL,B057,,2,RURAL,70,90,75.5,100\n"
)


def test_import_csv_dry_run_then_real_and_a_running_knowledge_sees_it(tmp_path: Path) -> None:
    data = _data_copy(tmp_path)
    source = tmp_path / "results-2027.csv"
    source.write_text(RESULTS_CSV, encoding="utf-8")
    knowledge = Knowledge(data)
    report = run_import(data, source, 2027, dry_run=True)
    assert "2 new" in report and "nothing written" in report
    assert not (data / "grant_scores" / "results-2027.csv").exists()

    run_import(data, source, 2027, dry_run=False)
    assert knowledge.kb.grant_scores.latest_year() == 2026  # until the reload
    kb = knowledge.reload()
    assert kb.grant_scores.national_minimum("B057", 2027, "general").min == 104  # type: ignore[union-attr]
    answer = knowledge.ask("passing score for B057", TODAY, default_lang="en")[1]
    assert "national minimum 104 (2026: 100, 2025: 99)" in answer.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (RESULTS_CSV.replace("104", "1o4"), "results-2027.csv:2: min is not a number"),
        (RESULTS_CSV.replace("B057,,2,", "X057,,2,"), "'X057' is not a programme-group code"),
        (RESULTS_CSV.replace(",120,", ",320,").replace(",104,", ",300,"), "not UNT totals"),
        (RESULTS_CSV.replace("2027,GENERAL,FULL,B057,,2", "2026,GENERAL,FULL,B057,,2"), "not 2027"),
        ("name;score\nIvanov;100\n", "not a results table"),
    ],
)
def test_a_malformed_file_is_refused_whole(tmp_path: Path, content: str, message: str) -> None:
    data = _data_copy(tmp_path)
    source = tmp_path / "results-2027.csv"
    source.write_text(content, encoding="utf-8")
    before = sorted(p.name for p in (data / "grant_scores").iterdir())
    done = subprocess.run(
        [TALAPKER, "scores", "import", str(source), "--year", "2027"],
        capture_output=True,
        text=True,
        env={"KNOWLEDGE_DIR": str(data), "PATH": ""},
    )
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in (data / "grant_scores").iterdir()) == before


def _ministry_pdf(path: Path, lines: list[str]) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=9)
    for line in lines:
        pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


PDF_LINES = [
    "Список обладателей образовательных грантов 2027",
    "B057 - Информационные технологии",
    "013 - Евразийский национальный университет имени Л.Н. Гумилева",
    "ОБЩИЙ КОНКУРС",
    "№ ИКТ ФИО Сумма баллов",
    "1 041234567 ИВАНОВ ИВАН ИВАНОВИЧ 131",
    "2 041234568 СЕРІКОВА АЙГЕРІМ 117",
    "3 041234569 ПЕТРОВ ПЁТР 102",
    "СЕЛЬСКАЯ КВОТА",
    "1 041234570 ЖАНСЕИТОВ ДӘУРЕН 88",
    "B058 - Информационная безопасность",
    "027 - Казахский национальный университет имени аль-Фараби",
    "ОБЩИЙ КОНКУРС",
    "1 041234571 ОМАРОВА ДИНА 110",
]


def test_import_the_ministry_pdf_keeps_only_aggregates(tmp_path: Path) -> None:
    data = _data_copy(tmp_path)
    pdf = tmp_path / "granty-2027.pdf"
    _ministry_pdf(pdf, PDF_LINES)
    report = run_import(data, pdf, 2027, dry_run=False)
    assert "pdf, 3 lists, 5 grants for 2027" in report
    stored = (data / "grant_scores" / "results-2027.csv").read_text("utf-8")
    for private in ("ИВАНОВ", "ОМАРОВА", "041234567", "ИВАН"):
        assert private not in stored
    assert "2027,GENERAL,FULL,B057,,13,GENERAL,102,131,116.7,3,moshe_lists,confirmed" in stored
    assert "2027,GENERAL,FULL,B057,,13,RURAL,88,88,88.0,1," in stored
    kb = load_knowledge(data)
    assert kb.grant_scores.national_minimum("B058", 2027, "general").min == 110  # type: ignore[union-attr]


def test_a_holder_before_its_headers_or_a_non_pdf_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScoresError, match="before its group, university and quota headers"):
        aggregate_holders(["1 041234567 ИВАНОВ ИВАН 131"], "list.pdf")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really\n")
    data = _data_copy(tmp_path)
    with pytest.raises(ScoresError, match=r"broken\.pdf: not a readable PDF"):
        run_import(data, broken, 2027, dry_run=False)
    assert not (data / "grant_scores" / "results-2027.csv").exists()
