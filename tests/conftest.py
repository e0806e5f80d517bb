import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Derandomized in CI so a failure reproduces; locally still random.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=60)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# `gradlogpi train` draws its curve in a second process (runs.curve_process); the suite's
# hundreds of runs draw in their own, as the API does, and tests/runs/test_curve_process.py
# tests the second process.
os.environ.setdefault("GRADLOGPI_CURVE_PROCESS", "off")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
