"""Draw each feature family over the 2-D state square [0, 1]² to PNGs under docs/images/.

Run: .venv/bin/python scripts/draw_features.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from gradlogpi.features import RBF, Fourier, Polynomial, TileCoder

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"
UNIT = ([0.0, 0.0], [1.0, 1.0])


def grid(n: int = 121) -> tuple[np.ndarray, np.ndarray]:
    axis = np.linspace(0, 1, n)
    xx, yy = np.meshgrid(axis, axis)
    return axis, np.stack([xx, yy], axis=-1)


def draw_maps(name: str, features, picks: list[int], titles: list[str]) -> Path:
    _, states = grid()
    values = features(states)
    figure, axes = plt.subplots(1, len(picks), figsize=(3 * len(picks), 3), constrained_layout=True)
    for ax, index, title in zip(np.atleast_1d(axes), picks, titles, strict=True):
        image = ax.imshow(values[..., index], origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([0, 1])
        ax.set_yticks([0, 1])
    figure.colorbar(image, ax=axes, shrink=0.8)
    path = OUT / f"features_{name}.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def draw_tilings() -> Path:
    coder = TileCoder(*UNIT, n_tilings=4, tiles_per_dim=4)
    figure, ax = plt.subplots(figsize=(4.5, 4.5), constrained_layout=True)
    colours = plt.cm.tab10.colors
    for t in range(coder.n_tilings):
        for j in range(coder.tiles_per_dim[0] + 2):
            edge_x = (j - coder.offsets[t, 0]) / coder.tiles_per_dim[0]
            edge_y = (j - coder.offsets[t, 1]) / coder.tiles_per_dim[1]
            ax.axvline(edge_x, color=colours[t], lw=1, alpha=0.7)
            ax.axhline(
                edge_y, color=colours[t], lw=1, alpha=0.7, label=f"tiling {t}" if j == 0 else None
            )
    point = np.array([0.42, 0.61])
    ax.plot(*point, "k*", ms=14)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(
        f"4 tilings, asymmetric offsets; ★ activates tiles {coder.active(point).tolist()}",
        fontsize=8,
    )
    ax.legend(loc="upper right", fontsize=7)
    path = OUT / "features_tilings.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    fourier = Fourier(*UNIT, order=3)
    picks = [1, 4, 5, 15]
    draw_maps(
        "fourier",
        fourier,
        picks,
        [f"cos(π c·s), c={tuple(map(int, fourier.coefficients[i]))}" for i in picks],
    )
    rbf = RBF(*UNIT, centres_per_dim=3, width=0.25)
    draw_maps("rbf", rbf, [0, 4, 8], [f"centre {tuple(rbf.centres[i])}" for i in (0, 4, 8)])
    polynomial = Polynomial(*UNIT, degree=2)
    draw_maps(
        "polynomial",
        polynomial,
        [1, 3, 4, 5],
        [f"exponents {tuple(map(int, polynomial.exponents[i]))}" for i in (1, 3, 4, 5)],
    )
    coder = TileCoder(*UNIT, n_tilings=4, tiles_per_dim=4)
    draw_maps(
        "tiles",
        lambda s: coder(s),
        [0, 25, 50],
        ["tile 0 (tiling 0)", "tile 25 (tiling 1)", "tile 50 (tiling 2)"],
    )
    print(draw_tilings())
    print(f"wrote feature pictures to {OUT}")


if __name__ == "__main__":
    main()
