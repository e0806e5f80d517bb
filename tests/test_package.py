"""The package works without its optional extras."""

import subprocess
import sys

SCRIPT = """
import sys
sys.modules["torch"] = None        # as if PyTorch were not installed
import gradlogpi, gradlogpi.cli, gradlogpi.runs.train
from gradlogpi.errors import MissingExtraError
from gradlogpi.policies.torch_policies import NeuralSoftmaxPolicy
try:
    NeuralSoftmaxPolicy(4, 2)
except MissingExtraError as error:
    print("missing:", error)
"""


def test_core_imports_without_torch_and_names_the_extra():
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    assert (
        'missing: neural policies need PyTorch: pip install "gradlogpi[torch]"' in completed.stdout
    )
