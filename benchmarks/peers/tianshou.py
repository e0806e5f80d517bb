"""Tianshou: not measured yet.

Tianshou 2.0 (the release in the bench venv) replaced the policy/trainer API the earlier
figures were measured with (REINFORCE 0.010 of the raw env on P4, 0.04 on P5); porting
that harness is left open. Importing this module raises ImportError so that the table
shows "n/a" rather than a number from another version.
"""

raise ImportError("the Tianshou 2.0 harness is not written yet")
