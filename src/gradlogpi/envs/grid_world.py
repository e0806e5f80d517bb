"""The grid world of seed 000: border features that say which sides of a cell are walls."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from gradlogpi.core._checks import check_positive_int
from gradlogpi.envs.batch import DiscreteModelEnv
from gradlogpi.features.base import StateFeatures, state_indices

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]])  # (row, column) change of each action


class GridWorldModel:
    """Array dynamics: states are cell indices row · n_cols + column."""

    observation_shape: tuple[int, ...] = ()

    def __init__(self, n_rows: int, n_cols: int, start: tuple[int, int], goal: tuple[int, int]):
        self.n_rows, self.n_cols = n_rows, n_cols
        self.n_states = n_rows * n_cols
        self.start = start[0] * n_cols + start[1]
        self.goal = goal[0] * n_cols + goal[1]

    def reset(self, rngs: list[np.random.Generator]) -> np.ndarray:
        return np.full(len(rngs), self.start, dtype=np.int64)

    def step(
        self, states: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, cols = np.divmod(states, self.n_cols)
        move = MOVES[actions]
        rows = np.clip(rows + move[..., 0], 0, self.n_rows - 1)  # bumping a border stays put
        cols = np.clip(cols + move[..., 1], 0, self.n_cols - 1)
        next_states = rows * self.n_cols + cols
        return next_states, np.full(states.shape, -1.0), next_states == self.goal

    def observe(self, states: np.ndarray) -> np.ndarray:
        return states


class GridWorldEnv(DiscreteModelEnv):
    """
    ## Description
    A rectangular grid with a start and a goal cell, from the question the project grew
    from (seed 000). Its natural state features say which sides of the current cell are
    borders: the top-left corner has x(s) = (1, 0, 0, 1) for (up, right, down, left).
    Use `BorderFeatures(n_rows, n_cols, position=True)` to add a one-hot of the cell, which
    a policy needs to tell the interior cells apart.

    ## Action Space
    `Discrete(4)`: 0 = up, 1 = right, 2 = down, 3 = left. Moving into a border stays put.

    ## Observation Space
    `Discrete(n_rows · n_cols)`: the cell index row · n_cols + column.

    ## Rewards
    −1 on every step.

    ## Starting State
    `start` (default the top-left cell).

    ## Episode End
    Terminates on reaching `goal` (default the bottom-right cell). Registered with
    `max_episode_steps=200`.

    ## Arguments
    `gym.make("gradlogpi/GridWorld-v0", n_rows=4, n_cols=4, start=(0, 0), goal=None,
    render_mode=None)`; render modes "rgb_array" and "ansi".

    ## Version History
    * v0: initial version.

    Examples:
      >>> import gymnasium as gym
      >>> env = gym.make("gradlogpi/GridWorld-v0", n_rows=2, n_cols=2)
      >>> env.reset(seed=0)[0]
      np.int64(0)
      >>> env.step(RIGHT)[:3]
      (np.int64(1), -1.0, False)
      >>> env.step(DOWN)[:3]
      (np.int64(3), -1.0, True)
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self,
        n_rows: int = 4,
        n_cols: int = 4,
        start: tuple[int, int] = (0, 0),
        goal: tuple[int, int] | None = None,
        render_mode: str | None = None,
    ):
        self.n_rows = check_positive_int("n_rows", n_rows)
        self.n_cols = check_positive_int("n_cols", n_cols)
        cells: dict[str, tuple[int, ...]] = {
            "start": tuple(start),
            "goal": (self.n_rows - 1, self.n_cols - 1) if goal is None else tuple(goal),
        }
        for name, cell in cells.items():
            if len(cell) != 2 or not (0 <= cell[0] < self.n_rows and 0 <= cell[1] < self.n_cols):
                raise ValueError(
                    f"`{name}` must be a (row, column) inside the "
                    f"{self.n_rows}×{self.n_cols} grid; "
                    f"got {cell}"
                )
        if cells["start"] == cells["goal"]:
            raise ValueError(f"`start` and `goal` must differ; got both {cells['goal']}")
        self.check_render_mode(render_mode)
        self.start: tuple[int, int] = (int(cells["start"][0]), int(cells["start"][1]))
        self.goal: tuple[int, int] = (int(cells["goal"][0]), int(cells["goal"][1]))
        self.model = GridWorldModel(self.n_rows, self.n_cols, self.start, self.goal)
        self.action_space = spaces.Discrete(4)
        self.observation_space = spaces.Discrete(self.n_rows * self.n_cols)
        self.state = None

    def render(self) -> Any:
        if self.render_mode is None:
            return None
        position = divmod(
            int(self.state if self.state is not None else self.model.start), self.n_cols
        )
        if self.render_mode == "ansi":
            lines = []
            for row in range(self.n_rows):
                cells = []
                for col in range(self.n_cols):
                    cells.append(
                        "A" if (row, col) == position else "G" if (row, col) == self.goal else "."
                    )
                lines.append(" ".join(cells))
            return "\n".join(lines)
        return grid_image(self.n_rows, self.n_cols, self.goal, position)


def grid_image(
    n_rows: int, n_cols: int, goal: tuple[int, int], agent: tuple[int, int], cell: int = 32
) -> np.ndarray:
    """RGB picture of the grid, uint8, shape [n_rows·cell, n_cols·cell, 3]."""
    image = np.full((n_rows * cell, n_cols * cell, 3), 245, dtype=np.uint8)
    image[::cell, :, :] = 180
    image[:, ::cell, :] = 180
    for (row, col), colour in ((goal, (80, 180, 90)), (agent, (220, 60, 50))):
        margin = cell // 5
        image[
            row * cell + margin : (row + 1) * cell - margin,
            col * cell + margin : (col + 1) * cell - margin,
        ] = colour
    return image


class BorderFeatures(StateFeatures):
    """x(s) = (up, right, down, left) border flags of the cell, optionally + onehot(cell).

    Seed 000's φ(s) = (1, 0, 0, 1) is the top-left corner: borders above and to the left.

    Args:
      n_rows: rows of the grid.
      n_cols: columns of the grid.
      position: append a one-hot of the cell (needed to tell interior cells apart).

    Examples:
      >>> BorderFeatures(3, 3)(0)
      array([1., 0., 0., 1.])
    """

    def __init__(self, n_rows: int, n_cols: int, *, position: bool = False):
        self.n_rows = check_positive_int("n_rows", n_rows)
        self.n_cols = check_positive_int("n_cols", n_cols)
        self.position = position
        n_cells = self.n_rows * self.n_cols
        rows, cols = np.divmod(np.arange(n_cells), self.n_cols)
        borders = np.stack(
            [rows == 0, cols == self.n_cols - 1, rows == self.n_rows - 1, cols == 0], axis=-1
        ).astype(np.float64)
        self.table = np.concatenate([borders, np.eye(n_cells)], axis=-1) if position else borders
        self.n_features = self.table.shape[1]
        self.observation_shape = ()

    def __call__(self, obs: Any) -> np.ndarray:
        return self.table[state_indices(obs, len(self.table))]
