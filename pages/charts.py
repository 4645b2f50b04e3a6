"""The Train page's charts: one component that updates them in place in the browser.

st.plotly_chart sends a chart's whole figure through Streamlit's React tree on every update
and redraws it there (Plotly, React and emotion took most of Chromium's CPU in a profile of a
live run); on a 2-core machine that CPU is taken from training. Here the charts live in one
iframe (live_charts/index.html) that hands a figure to Plotly.react only when its revision
changed, and pictures are plain <img> tags. During a 1-epoch fast-cnn run on 2 cores, Chromium's
renderer took 18-25 % of a core with st.plotly_chart, 16-17 % once updates stopped animating,
13-14 % with this component.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import plotly
import plotly.graph_objects as go
import streamlit.components.v1 as components
from PIL import Image

FRONTEND = Path(__file__).with_name("live_charts")
PLOTLY_JS = Path(plotly.__file__).parent / "package_data"  # plotly.min.js, served locally


def figure(id: str, fig: go.Figure, rev) -> dict:
    """A Plotly figure, redrawn in the browser only when `rev` changes."""
    return {"id": id, "rev": repr(rev), "figure": json.loads(fig.to_json())}


def picture(id: str, pixels: np.ndarray, title: str, caption: str, scale: int = 1) -> dict:
    """An RGB picture (H, W, 3) uint8 as a PNG, shown `scale` times its size, pixels sharp."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    png = buf.getvalue()
    data = base64.b64encode(png).decode("ascii")
    h, w = pixels.shape[:2]
    return {"id": id, "rev": hashlib.sha1(png).hexdigest() + caption, "picture": {
        "src": f"data:image/png;base64,{data}", "title": title, "caption": caption,
        "width": w * scale, "height": h * scale}}


def note(id: str, text: str) -> dict:
    """A line of text in a chart's place."""
    return {"id": id, "rev": text, "note": text}


def show(items: list[dict], key: str) -> None:
    """Draw the items in a two-column grid (one column when narrow), updating those changed."""
    # Declared here rather than on import: a runtime registers what is declared during its
    # script runs, and AppTest makes a new runtime per test.
    plotly_js = components.declare_component("plotly_js", path=PLOTLY_JS)
    live = components.declare_component("live_charts", path=FRONTEND)
    live(items=items, plotly_js=f"../{plotly_js.name}/plotly.min.js", key=key,
         default=None)
