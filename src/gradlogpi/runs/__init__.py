"""Run directories, metrics, checkpoints and plots: the file I/O of gradlogpi."""

from gradlogpi.runs.files import atomic_open, save_figure, write_csv

__all__ = ["atomic_open", "save_figure", "write_csv"]
