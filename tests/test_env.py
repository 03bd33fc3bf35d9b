"""course.env.child_env and course.errors: one environment and one exit-code policy."""

from course import data, loader, release, scale
from course.checkpoints import CheckpointError
from course.env import child_env
from course.errors import CourseError, Exit, SetupError
from course.train import ResumeError


def test_child_env_sets_scale_results_and_figures():
    base = {"PATH": "/bin", "COURSE_RESULTS_DIR": "/old", "MPLBACKEND": "Agg", "KEEP": "1"}
    run = child_env(scale="quick", results="/r", figures=True, base=base)
    assert run == {"PATH": "/bin", "KEEP": "1", "COURSE_SCALE": "quick", "COURSE_RESULTS_DIR": "/r"}
    check = child_env(scale="tiny", figures=False, base=base, TQDM_DISABLE="1")
    assert check["MPLBACKEND"] == "Agg" and "COURSE_RESULTS_DIR" not in check
    assert check["TQDM_DISABLE"] == "1" and base["COURSE_RESULTS_DIR"] == "/old"


def test_every_course_error_is_a_course_error_with_an_exit_code():
    errors = [release.BuildError, loader.LoadError, data.DataError, scale.ScaleError,
              CheckpointError, ResumeError, SetupError]
    assert all(issubclass(e, CourseError) for e in errors)
    assert release.BuildError.exit_code == Exit.USAGE and SetupError.exit_code == Exit.FAILED
