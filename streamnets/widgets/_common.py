"""What the widgets share: the lazy ipywidgets import and figure rendering.

The apps check values given in Python with :func:`streamnets.errors.whole_number`
before moving a slider, which would clamp them silently."""

from __future__ import annotations

import contextlib
import html
import io

__all__ = ["require_ipywidgets", "png_bytes", "escape", "WidgetApp"]


def require_ipywidgets():
    """The ipywidgets module, or an error that says how to get it."""
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - ipywidgets is in environment.yml
        from ..errors import StreamnetsError

        raise StreamnetsError("the streamnets widgets need ipywidgets; install it with "
                              "'pip install ipywidgets' (or use the project's environment.yml)"
                              ) from None
    return ipywidgets


def png_bytes(fig, dpi=90):
    """The figure rendered as PNG bytes (for an ``ipywidgets.Image``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def escape(text):
    return html.escape(str(text), quote=False)


class WidgetApp:
    """Base of the apps: displays as its top-level widget ``self.widget``.

    Apps that redraw define ``update``; a control's change redraws through
    ``_changed`` unless ``_hold`` batches several changes into one redraw.
    """

    widget = None
    _holding = False

    @contextlib.contextmanager
    def _hold(self):
        """Change several controls with one redraw at the end (also after an error)."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            self.update()

    def _changed(self, _change=None):
        if not self._holding:
            self.update()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
