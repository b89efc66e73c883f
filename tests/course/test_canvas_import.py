"""Import of a Canvas submissions zip through `nbgrader zip_collect`.

The slow tests share one course into which the bundled sample zip
(examples/canvas/activations-submissions.zip) was imported once with its
roster. An import that collects anything starts `nbgrader zip_collect` in a
subprocess, which takes 5 to 10 s on two cores.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc

from minitorch_grading.lms import (
    CANVAS_FILE_NAME,
    IMPORTED,
    KEPT_NEWER,
    KEPT_UNDATED,
    REPLACED,
    UNCHANGED,
    CanvasImportError,
    import_canvas_zip,
    open_canvas_zip,
    original_file_name,
    read_canvas_roster,
    scan_zip,
)
from tests.conftest import (
    ASSIGNMENT,
    REPO,
    assert_builder_output_committed,
    make_course,
    nbgrader_environment,
)

SAMPLE = REPO / "examples" / "canvas"
SAMPLE_ZIP = SAMPLE / "activations-submissions.zip"
DUE_DATE = datetime(2025, 3, 14, 23, 59)  # UTC, as in examples/build_canvas_zip.py
COURSE_ID = "minitorch-activations"

# Canvas user id: (first name, last name, bundled submission of the used attempt)
SAMPLE_STUDENTS = {
    "24001": ("Łukasz", "Ñúñez", "correct"),
    "24002": ("芳", "王", "relu-derivative-one-at-zero"),
    "24003": ("Siobhán", "O'Brien", "naive-sigmoid"),
    "24004": ("Ada", "Smith", "spec-relu"),
    "24005": ("Jürgen", "Müller", "float32-to-float64"),
}


def gradebook(course: Path) -> Gradebook:
    return Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID)


def submitted_notebook(course: Path, student: str) -> Path:
    return course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def bundled_notebook(name: str) -> bytes:
    return (REPO / "examples" / "submissions" / name / "activations.ipynb").read_bytes()


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):
    """A course with a due date into which the sample zip was imported once."""
    course = make_course(tmp_path_factory.mktemp("canvas") / "course")
    with gradebook(course) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=DUE_DATE)
    roster = read_canvas_roster(SAMPLE / "roster.csv")
    report = import_canvas_zip(course, ASSIGNMENT, SAMPLE_ZIP, roster=roster)
    return course, report


def test_sample_zip_matches_its_builder(tmp_path: Path):
    assert_builder_output_committed(
        REPO / "examples" / "build_canvas_zip.py", SAMPLE, tmp_path
    )


@pytest.mark.parametrize(
    ("file_name", "name", "late", "student_id", "file_id"),
    [
        (
            "smithada_24004_7300103_activations.ipynb",
            "smithada",
            None,
            "24004",
            "activations.ipynb",
        ),
        (
            "obriensiobhán_late_24003_7300105_activations.ipynb",
            "obriensiobhán",
            "late",
            "24003",
            "activations.ipynb",
        ),
        (
            "obriensiobhán_LATE_24003_7300105_activations.ipynb",
            "obriensiobhán",
            "LATE",
            "24003",
            "activations.ipynb",
        ),
        (
            "smith--ada-late_24004_7300103_my_lab_2.ipynb",
            "smith--ada",
            "late",
            "24004",
            "my_lab_2.ipynb",
        ),
        (
            "o_brien_24003_7300105_activations-1.ipynb",
            "o_brien",
            None,
            "24003",
            "activations-1.ipynb",
        ),
        (
            "王芳_24002_7300102_activations.ipynb",
            "王芳",
            None,
            "24002",
            "activations.ipynb",
        ),
        ("24002_7300102_activations.ipynb", None, None, "24002", "activations.ipynb"),
        (
            "late_24002_7300102_activations.ipynb",
            None,
            "late",
            "24002",
            "activations.ipynb",
        ),
    ],
)
def test_canvas_file_name_parts(file_name, name, late, student_id, file_id):
    match = CANVAS_FILE_NAME.match(file_name)

    assert match is not None
    assert match["name"] == name
    assert match["late"] == late
    assert match["student_id"] == student_id
    assert match["file_id"] == file_id


@pytest.mark.parametrize(
    "file_name",
    ["grading-notes.txt", "smithada_24004_text.html", "activations.ipynb"],
)
def test_canvas_file_name_rejects_other_names(file_name):
    assert CANVAS_FILE_NAME.match(file_name) is None


def test_resubmission_suffix_removed():
    assert original_file_name("activations.ipynb") == ("activations.ipynb", 0)
    assert original_file_name("activations-1.ipynb") == ("activations.ipynb", 1)
    assert original_file_name("activations-12.ipynb") == ("activations.ipynb", 12)
    assert original_file_name("lab-0.ipynb") == ("lab-0.ipynb", 0)


@pytest.mark.slow
def test_import_collects_every_student(imported):
    course, report = imported

    assert [entry.student_id for entry in report.students] == list(SAMPLE_STUDENTS)
    assert report.collected == list(SAMPLE_STUDENTS)
    for student, (_, _, source) in SAMPLE_STUDENTS.items():
        notebook = submitted_notebook(course, student)
        assert notebook.read_bytes() == bundled_notebook(source), student


@pytest.mark.slow
def test_import_uses_latest_attempt(imported):
    course, report = imported
    smith = report.student("24004")

    assert [a.file_name for a in smith.attempts] == [
        "activations.ipynb",
        "activations-1.ipynb",
    ]
    assert smith.used is smith.attempts[-1]
    assert submitted_notebook(course, "24004").read_bytes() == bundled_notebook(
        "spec-relu"
    )
    assert sorted(
        p.name for p in submitted_notebook(course, "24004").parent.iterdir()
    ) == [
        "activations.ipynb",
        "timestamp.txt",
    ]


@pytest.mark.slow
def test_import_adds_names_to_gradebook(imported):
    course, _ = imported

    with gradebook(course) as gb:
        names = {s.id: (s.first_name, s.last_name) for s in gb.students}

    assert names == {
        student: (first, last) for student, (first, last, _) in SAMPLE_STUDENTS.items()
    }


@pytest.mark.slow
def test_import_reports_canvas_names(imported):
    _, report = imported

    assert report.student("24001").name == "ñúñezłukasz"
    assert report.student("24002").name == "王芳"
    assert report.student("24001").display_name == "Ñúñez, Łukasz"


@pytest.mark.slow
def test_import_marks_late_submission(imported):
    course, report = imported

    late = [entry.student_id for entry in report.students if entry.late]
    assert late == ["24003"]
    assert report.warnings == []
    for student in SAMPLE_STUDENTS:
        stamp = (
            course / "submitted" / student / ASSIGNMENT / "timestamp.txt"
        ).read_text()
        assert (parse_utc(stamp) > DUE_DATE) == (student == "24003"), student


@pytest.mark.slow
def test_import_writes_latest_attempt_time(imported):
    course, report = imported
    stamp = (course / "submitted" / "24004" / ASSIGNMENT / "timestamp.txt").read_text()

    assert parse_utc(stamp) == datetime(2025, 3, 14, 22, 30)
    assert report.student("24004").used.submitted_at == datetime(
        2025, 3, 14, 22, 30, tzinfo=timezone.utc
    )


@pytest.mark.slow
def test_import_reports_unmatched_and_other_files(imported):
    _, report = imported

    assert report.unmatched == ["grading-notes.txt"]
    assert report.student("24005").other_files == [
        "müllerjürgen_24005_7300107_scratch.py"
    ]


@pytest.mark.slow
def test_report_text_lists_students_and_files(imported):
    _, report = imported
    text = report.render()

    assert "24002 王, 芳" in text
    assert "attempt 2: activations-1.ipynb, 2025-03-14 22:30:00 UTC (used)" in text
    assert "(used, LATE)" in text
    assert "grading-notes.txt" in text
    assert (
        "not a notebook, not collected: müllerjürgen_24005_7300107_scratch.py" in text
    )
    assert "5 of 5 students collected, 1 unmatched files." in text


@pytest.mark.slow
def test_reimport_changes_nothing(imported):
    course, _ = imported
    before = {
        path: (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted((course / "submitted").rglob("*"))
        if path.is_file()
    }

    report = import_canvas_zip(course, ASSIGNMENT, SAMPLE_ZIP)

    assert [entry.action for entry in report.students] == [UNCHANGED] * 5
    assert report.collected == []
    after = {
        path: (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted((course / "submitted").rglob("*"))
        if path.is_file()
    }
    assert after == before
    with gradebook(course) as gb:
        assert gb.find_student("24001").first_name == "Łukasz"


@pytest.mark.slow
def test_newer_submission_kept_unless_forced(tmp_path: Path):
    course = make_course(tmp_path / "course")
    newer = course / "submitted" / "24001" / ASSIGNMENT
    newer.mkdir(parents=True)
    (newer / "activations.ipynb").write_text("newer")
    (newer / "timestamp.txt").write_text("2025-03-20 10:00:00")
    older = course / "submitted" / "24002" / ASSIGNMENT
    older.mkdir(parents=True)
    (older / "activations.ipynb").write_text("older")
    (older / "timestamp.txt").write_text("2025-03-01 10:00:00")
    undated = course / "submitted" / "24005" / ASSIGNMENT
    undated.mkdir(parents=True)
    (undated / "activations.ipynb").write_text("undated")

    report = import_canvas_zip(course, ASSIGNMENT, SAMPLE_ZIP)

    assert report.student("24001").action == KEPT_NEWER
    assert report.student("24002").action == REPLACED
    assert report.student("24003").action == IMPORTED
    assert report.student("24005").action == KEPT_UNDATED
    assert (newer / "activations.ipynb").read_text() == "newer"
    assert "Import again with force=True" in report.render()
    assert (undated / "activations.ipynb").read_text() == "undated"
    assert (older / "activations.ipynb").read_bytes() == bundled_notebook(
        "relu-derivative-one-at-zero"
    )

    forced = import_canvas_zip(course, ASSIGNMENT, SAMPLE_ZIP, force=True)

    assert forced.student("24001").action == REPLACED
    assert forced.student("24005").action == REPLACED
    assert (newer / "activations.ipynb").read_bytes() == bundled_notebook("correct")
    assert parse_utc((newer / "timestamp.txt").read_text()) == datetime(
        2025, 3, 14, 17, 42, 10
    )
    assert (undated / "activations.ipynb").read_bytes() == bundled_notebook(
        "float32-to-float64"
    )


@pytest.mark.slow
def test_import_without_roster_names_from_file(tmp_path: Path):
    course = make_course(tmp_path / "course")
    with gradebook(course) as gb:
        gb.update_or_create_student("24002", first_name="Fang", last_name="Wang")

    import_canvas_zip(course, ASSIGNMENT, SAMPLE_ZIP)

    with gradebook(course) as gb:
        nunez = gb.find_student("24001")
        wang = gb.find_student("24002")
    assert nunez.first_name is None
    assert nunez.last_name == "ñúñezłukasz"
    assert (wang.first_name, wang.last_name) == ("Fang", "Wang")


def test_late_marker_mismatch_warns(tmp_path: Path):
    course = make_course(tmp_path / "course")
    with gradebook(course) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=datetime(2025, 3, 1))
    # Keep every submission already in place, so no nbgrader run is needed.
    for student in SAMPLE_STUDENTS:
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text("2025-04-01 00:00:00")

    report = import_canvas_zip(course, ASSIGNMENT, SAMPLE_ZIP)

    assert report.collected == []
    warned = sorted(warning.split(":")[0] for warning in report.warnings)
    assert warned == ["24001", "24002", "24004", "24005"]


def test_missing_zip_names_path(tmp_path: Path):
    course = make_course(tmp_path / "course")
    missing = tmp_path / "nowhere.zip"

    with pytest.raises(CanvasImportError) as error:
        import_canvas_zip(course, ASSIGNMENT, missing)

    assert "not found" in str(error.value)
    assert str(missing) in str(error.value)
    assert not (course / "submitted").exists()


def test_truncated_zip_is_rejected(tmp_path: Path):
    course = make_course(tmp_path / "course")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(SAMPLE_ZIP.read_bytes()[:50_000])

    with pytest.raises(CanvasImportError) as error:
        import_canvas_zip(course, ASSIGNMENT, truncated)

    assert "not a valid zip file" in str(error.value)
    assert str(truncated) in str(error.value)
    assert "download it from Canvas again" in str(error.value)
    assert not (course / "submitted").exists()


def test_damaged_entry_is_rejected(tmp_path: Path):
    course = make_course(tmp_path / "course")
    data = bytearray(SAMPLE_ZIP.read_bytes())
    with zipfile.ZipFile(SAMPLE_ZIP) as archive:
        first = archive.infolist()[0]
    # Entries are stored uncompressed, so this byte is notebook text.
    data[first.header_offset + 200] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))

    with pytest.raises(CanvasImportError) as error:
        import_canvas_zip(course, ASSIGNMENT, damaged)

    assert "fails its CRC check" in str(error.value)
    assert first.filename in str(error.value)
    assert not (course / "submitted").exists()


def test_course_without_release_is_rejected(tmp_path: Path):
    course = make_course(tmp_path / "course")
    shutil.rmtree(course / "release")

    with pytest.raises(CanvasImportError) as error:
        import_canvas_zip(course, ASSIGNMENT, SAMPLE_ZIP)

    assert "nbgrader generate_assignment activations" in str(error.value)


def test_utf8_name_without_flag_is_repaired(tmp_path: Path):
    canvas_name = "ñúñezłukasz_24001_7300101_activations.ipynb"
    encoded = canvas_name.encode("utf-8")
    placeholder = b"x" * len(encoded)
    path = tmp_path / "rubyzip.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(placeholder.decode("ascii"), "{}")
    # Put the UTF-8 bytes in place of the ASCII name, in the local header and in
    # the central directory, without the UTF-8 flag, as rubyzip writes them unless
    # Zip.unicode_names is on.
    path.write_bytes(path.read_bytes().replace(placeholder, encoded))

    with open_canvas_zip(path) as archive:
        assert not archive.infolist()[0].flag_bits & 0x800
        students, unmatched = scan_zip(archive, timezone.utc)

    assert unmatched == []
    assert students["24001"].name == "ñúñezłukasz"
    assert students["24001"].attempts[0].zip_name == canvas_name


def test_roster_requires_canvas_columns(tmp_path: Path):
    roster = tmp_path / "roster.csv"
    roster.write_text("Name,Email\nAda,ada@example.org\n")

    with pytest.raises(CanvasImportError) as error:
        read_canvas_roster(roster)

    assert "['ID', 'Student']" in str(error.value)


def test_roster_skips_points_possible_row():
    roster = read_canvas_roster(SAMPLE / "roster.csv")

    assert roster == {
        student: (first, last) for student, (first, last, _) in SAMPLE_STUDENTS.items()
    }


@pytest.mark.slow
def test_autograde_counts_late_submission_late(imported):
    course, _ = imported
    env = nbgrader_environment()
    for args in (
        ["generate_assignment", ASSIGNMENT, "--force"],
        ["autograde", ASSIGNMENT, "--student=24003"],
    ):
        completed = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=course,
            env=env,
            capture_output=True,
            text=True,
        )
        assert completed.returncode == 0, completed.stderr[-5000:]

    with gradebook(course) as gb:
        submission = gb.find_submission(ASSIGNMENT, "24003")
        seconds_late = submission.total_seconds_late
        duedate = submission.duedate

    assert duedate == DUE_DATE
    assert seconds_late == (datetime(2025, 3, 15, 8, 3, 20) - DUE_DATE).total_seconds()
