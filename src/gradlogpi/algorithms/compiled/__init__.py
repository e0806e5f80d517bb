"""Compiled (Numba) twins of the book's per-step algorithms, for tabular tasks.

`tabular.tabulate` says whether a task and policy can take the compiled path; the
algorithms in `gradlogpi.algorithms` choose it by name and fall back to NumPy otherwise.
Each kernel has a test that it gives the NumPy path's numbers (tests/algorithms/test_tabular.py).
"""
