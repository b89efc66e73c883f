"""nbgrader configuration of the minitorch activations course.

Autograding runs the hidden checks of ``minitorch_grading`` against each
submission in a separate worker process, in place of nbgrader's ``Execute``
preprocessor, which would run submissions in a kernel beside the grader.
"""

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    ClearOutput,
    DeduplicateIds,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    SaveAutoGrades,
)

from minitorch_grading.nbgrader_plugin import (
    CheckCellMetadataCachedSchema,
    GradeWithHiddenChecks,
    ValidateSubmission,
    record_submission_files,
)

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "minitorch-activations"

# Each submission's status (graded, invalid, timed out, ...) and its reasons go
# to grading_status/<assignment>/<student>.json; the export adds them to the CSV.
c.Autograde.pre_convert_hook = record_submission_files
c.ExportApp.plugin_class = "minitorch_grading.exports.StatusCsvExport"

# nbgrader 0.9.6's defaults with ValidateSubmission first: it rejects invalid
# notebooks and repairs altered grading metadata, which would otherwise stop
# the whole batch in CheckCellMetadata.
c.Autograde.sanitize_preprocessors = [
    ValidateSubmission,
    ClearOutput,
    DeduplicateIds,
    OverwriteCells,
    CheckCellMetadataCachedSchema,
]

# Same order as nbgrader 0.9.6's defaults, with Execute replaced. In both
# lists CheckCellMetadataCachedSchema replaces CheckCellMetadata: the same
# checks and errors, with the JSON schema checked once instead of per cell.
c.Autograde.autograde_preprocessors = [
    GradeWithHiddenChecks,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadataCachedSchema,
]

# Cells the grader does not run: figures, and the notebook's last cell, which
# reruns the visible test cells for students. minitorch.selfcheck, which
# students run, skips the same two tags.
c.GradeWithHiddenChecks.skip_tags = ["plot", "self-check"]

# Limits for one submission's worker process.
c.GradeWithHiddenChecks.call_timeout = 5.0  # seconds per call into student code
c.GradeWithHiddenChecks.cell_timeout = 30.0  # seconds per notebook code cell
c.GradeWithHiddenChecks.submission_timeout = 300.0  # seconds for the whole submission
c.GradeWithHiddenChecks.memory_limit = 4 << 30  # bytes of address space

# Validate each notebook once, after the last preprocessor, instead of after
# every one. A notebook that ends up invalid still fails.
c.NotebookExporter.optimistic_validation = True
