"""The static maps' PNG writer stores the pixels ``savefig`` would, encoded faster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from PIL import Image  # after the skip: Pillow comes with matplotlib

from geo311.site.static import _matplotlib, _save_png


def _figure(facecolor: str) -> Any:
    mpl = _matplotlib()
    fig = mpl.Figure(figsize=(2.0, 1.5), dpi=50, facecolor=facecolor)
    mpl.FigureCanvasAgg(fig)
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    ax.fill([0, 1, 0.5], [0, 0, 1], color="#31688e")
    ax.set_title("Requests per 1,000 residents", fontsize=6)
    return fig


@pytest.mark.parametrize(("facecolor", "mode"), [("white", "RGB"), ("none", "RGBA")])
def test_png_has_the_pixels_of_savefig(tmp_path: Path, facecolor: str, mode: str) -> None:
    fig = _figure(facecolor)
    fig.savefig(tmp_path / "savefig.png", format="png", dpi=50)
    _save_png(fig, tmp_path / "ours.png", _matplotlib(), dpi=50)
    with Image.open(tmp_path / "ours.png") as ours, Image.open(tmp_path / "savefig.png") as ref:
        assert ours.mode == mode  # opaque figures lose only their constant alpha
        assert ours.size == ref.size == (100, 75)
        assert round(ours.info["dpi"][0]) == 50
        assert ours.info["Software"].startswith("Matplotlib version")
        np.testing.assert_array_equal(np.asarray(ours.convert("RGBA")), np.asarray(ref))
