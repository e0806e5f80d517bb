"""`gradlogpi tune`: hyperparameter search with Optuna (the `tune` extra), in a database.

The search space is a config's `[tune]` table (`space.py`); each trial trains the sampled
setting on S seeds, each a normal run directory (`trials.py`); the study lives in an Optuna
storage that restarts and workers share (`study.py`); `report.py` writes best.toml and the
plots and re-runs the best setting on fresh seeds; `run.py` puts them together.

Nothing here imports Optuna until a study is opened: without the extra, `tune` raises
`MissingExtraError` naming it.
"""

from gradlogpi.runs.tuning.report import StudyReport
from gradlogpi.runs.tuning.run import TuneRequest, report, study_definition, tune
from gradlogpi.runs.tuning.space import Dimension, TuneSettings, read_tune_table

__all__ = [
    "Dimension",
    "StudyReport",
    "TuneRequest",
    "TuneSettings",
    "read_tune_table",
    "report",
    "study_definition",
    "tune",
]
