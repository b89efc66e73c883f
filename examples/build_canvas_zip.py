"""Build a sample Canvas submissions zip from the bundled example submissions.

The zip names its files the way Canvas's "Download Submissions" does (see
``minitorch_grading.lms``). It covers each case the import must handle. Names
contain non-ASCII letters, Canvas marked one submission late, and one student
made two attempts whose notebooks differ. One student's file is not a notebook,
and one file matches no Canvas name. Entry times are fixed, and the entries are
stored uncompressed, so every build writes the same bytes. The due date the
entry times were chosen around is ``DUE_DATE``.

A gradebook export with the same students is written beside it as
``roster.csv``, with the columns Canvas's export starts with.

Run from the repository root::

    python examples/build_canvas_zip.py
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "examples" / "submissions"
OUTPUT = ROOT / "examples" / "canvas"
ZIP_NAME = "activations-submissions.zip"
ROSTER_NAME = "roster.csv"
SOURCES_NAME = "sources.json"

DUE_DATE = "2025-03-14 23:59:00"  # UTC


@dataclass(frozen=True)
class Student:
    canvas_id: int
    last_name: str
    first_name: str
    sis_id: str
    login: str

    @property
    def file_prefix(self) -> str:
        """The sortable name "Last, First" as Canvas writes it in file names:
        lowercased, with everything but letters, digits and underscores removed."""
        sortable = f"{self.last_name}, {self.first_name}"
        return "".join(c for c in sortable if c.isalnum() or c == "_").lower()


@dataclass(frozen=True)
class Upload:
    student: Student
    attachment_id: int
    file_name: str  # as the student uploaded it, with Canvas's -N suffix
    time: tuple[int, int, int, int, int, int]  # zip entry time, read as UTC
    late: bool = False
    source: str = ""  # bundled submission whose notebook this is
    text: str = ""  # contents of a file that is not a notebook


NUNEZ = Student(24001, "Ñúñez", "Łukasz", "S24001", "lnunez")
WANG = Student(24002, "王", "芳", "S24002", "fwang")
OBRIEN = Student(24003, "O'Brien", "Siobhán", "S24003", "sobrien")
SMITH = Student(24004, "Smith", "Ada", "S24004", "asmith")
MULLER = Student(24005, "Müller", "Jürgen", "S24005", "jmuller")
STUDENTS = (NUNEZ, WANG, OBRIEN, SMITH, MULLER)

UPLOADS = (
    Upload(
        NUNEZ, 7300101, "activations.ipynb", (2025, 3, 14, 17, 42, 10), source="correct"
    ),
    Upload(
        WANG,
        7300102,
        "activations.ipynb",
        (2025, 3, 13, 9, 15, 0),
        source="relu-derivative-one-at-zero",
    ),
    Upload(
        SMITH,
        7300103,
        "activations.ipynb",
        (2025, 3, 12, 20, 0, 0),
        source="untouched-release",
    ),
    Upload(
        MULLER,
        7300104,
        "activations.ipynb",
        (2025, 3, 14, 12, 0, 0),
        source="float32-to-float64",
    ),
    Upload(
        OBRIEN,
        7300105,
        "activations.ipynb",
        (2025, 3, 15, 8, 3, 20),
        late=True,
        source="naive-sigmoid",
    ),
    # Smith uploads again under the same name, so Canvas adds "-1".
    Upload(
        SMITH,
        7300106,
        "activations-1.ipynb",
        (2025, 3, 14, 22, 30, 0),
        source="spec-relu",
    ),
    Upload(
        MULLER,
        7300107,
        "scratch.py",
        (2025, 3, 14, 12, 0, 0),
        text="import numpy as np\nprint(np.tanh(1.0))\n",
    ),
)

# A file an instructor's own tools may leave in a downloaded zip.
STRAY_NAME = "grading-notes.txt"
STRAY_TEXT = "Check Smith's second attempt by hand.\n"
STRAY_TIME = (2025, 3, 16, 10, 0, 0)


def canvas_name(upload: Upload) -> str:
    """Return the zip entry name Canvas gives ``upload``."""
    parts = [upload.student.file_prefix]
    if upload.late:
        parts.append("late")
    parts += [str(upload.student.canvas_id), str(upload.attachment_id)]
    return "_".join(parts) + "_" + upload.file_name


def entry(name: str, time: tuple[int, ...]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=time)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # Unix, on every build machine
    info.external_attr = 0o644 << 16
    return info


def build_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for upload in UPLOADS:
            if upload.source:
                data = (SUBMISSIONS / upload.source / "activations.ipynb").read_bytes()
            else:
                data = upload.text.encode("utf-8")
            archive.writestr(entry(canvas_name(upload), upload.time), data)
        archive.writestr(entry(STRAY_NAME, STRAY_TIME), STRAY_TEXT.encode("utf-8"))
    return buffer.getvalue()


def build_roster() -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(
        [
            "Student",
            "ID",
            "SIS User ID",
            "SIS Login ID",
            "Section",
            "activations (880011)",
        ]
    )
    writer.writerow(["    Points Possible", "", "", "", "", "61.00"])
    for student in STUDENTS:
        writer.writerow(
            [
                f"{student.last_name}, {student.first_name}",
                student.canvas_id,
                student.sis_id,
                student.login,
                "Section 1",
                "",
            ]
        )
    return text.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the sample Canvas zip.")
    parser.add_argument(
        "--output",
        type=Path,
        default=OUTPUT,
        help=f"folder to write the zip and roster to "
        f"(default: {OUTPUT.relative_to(ROOT)})",
    )
    output = parser.parse_args(argv).output
    output.mkdir(parents=True, exist_ok=True)
    (output / ZIP_NAME).write_bytes(build_zip())
    (output / ROSTER_NAME).write_text(build_roster(), encoding="utf-8")
    # The notebook each student's latest upload was made from, so the demo can
    # compare the imported students' scores with the bundled expected scores.
    latest: dict[int, Upload] = {}
    for upload in UPLOADS:
        previous = latest.get(upload.student.canvas_id)
        if upload.source and (previous is None or upload.time > previous.time):
            latest[upload.student.canvas_id] = upload
    sources = {str(key): upload.source for key, upload in sorted(latest.items())}
    (output / SOURCES_NAME).write_text(json.dumps(sources, indent=2) + "\n")
    print(f"wrote {ZIP_NAME}, {ROSTER_NAME} and {SOURCES_NAME} to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
