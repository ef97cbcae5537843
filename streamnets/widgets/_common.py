"""What the widgets share: the lazy ipywidgets import, figure rendering and the
range checks of values given in Python."""

from __future__ import annotations

import html
import io
import operator

from ..errors import SettingError

__all__ = ["require_ipywidgets", "png_bytes", "escape", "checked_int", "WidgetApp"]


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


def checked_int(name, value, lo, hi, explain):
    """``value`` as an int in ``lo..hi``, or a SettingError naming the argument,
    the value, the range and ``explain`` (why the range, what to do).

    The apps check what is given in Python before moving a slider, which would
    clamp it silently.

    Examples
    --------
    >>> checked_int("frame", 7, 0, 7, "give a frame in that range")
    7
    >>> checked_int("frame", 99, 0, 7, "give a frame in that range")
    Traceback (most recent call last):
    ...
    streamnets.errors.SettingError: frame=99 is out of range 0..7: give a frame in that range
    """
    try:
        index = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        index = None
    if index is None:
        raise SettingError(f"{name} must be a whole number in {lo}..{hi}, got {value!r}")
    if not lo <= index <= hi:
        raise SettingError(f"{name}={index} is out of range {lo}..{hi}: {explain}")
    return index


class WidgetApp:
    """Base of the apps: displays as its top-level widget ``self.widget``."""

    widget = None

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
