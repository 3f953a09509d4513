"""Matplotlib figures of the posterior queries."""

from typing import Sequence, Tuple

import numpy as np


def plot_t_sne(
    coords: np.ndarray,
    colourings: Sequence[Tuple[str, np.ndarray]] = (),
    save_name: str = "",
):
    """Scatter plot of 2-d embedded cells, one panel per colouring.

    Parameters
    ----------
    coords
        ``(n_cells, 2)`` coordinates.
    colourings
        ``(title, values)`` pairs: one panel each, cells coloured by their
        categorical ``values`` with a legend. None: one grey panel.
    save_name
        Write the figure to this file when given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    colourings = list(colourings) or [("", None)]
    figure, axes = plt.subplots(
        1, len(colourings), figsize=(8 * len(colourings), 8), squeeze=False
    )
    for ax, (title, values) in zip(axes[0], colourings):
        if values is None:
            ax.scatter(coords[:, 0], coords[:, 1], s=4, color="grey")
        else:
            for i, category in enumerate(np.unique(values)):
                mask = values == category
                ax.scatter(
                    coords[mask, 0],
                    coords[mask, 1],
                    s=4,
                    color=plt.cm.tab20(i % 20),
                    label=str(category),
                )
            ax.legend(markerscale=3, fontsize="small")
        ax.set_title(title)
        ax.axis("off")
    figure.tight_layout()
    if save_name:
        figure.savefig(save_name)
    return figure
