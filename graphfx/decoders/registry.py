"""A registry of graph decoders, by name (timm-style).

In-process, a decorator registers a class::

    from graphfx.decoders import GraphDecoder, register

    @register("my_decoder")
    class MyDecoder(GraphDecoder):
        @dataclass
        class Config:
            d_model: int = 512
        ...

    decoder = create("my_decoder", d_model=256)          # or create("tokengt", preset="small")

Third-party packages declare an entry point in the group ``graphfx.decoders``
whose name is the decoder name and whose object is the class::

    [options.entry_points]                 # setup.cfg of the plugin package
    graphfx.decoders =
        my_decoder = my_package.decoders:MyDecoder

Built-in decoders (every module of :mod:`graphfx.decoders`) and plugins are
loaded lazily, on the first lookup. A checkpoint stores ``decoder.name`` and
``decoder.config_dict()``; ``create(name, **config)`` rebuilds the model.
"""
from __future__ import annotations

import fnmatch
import importlib
import importlib.metadata
import pkgutil
import warnings
from typing import Callable, Dict, Iterable, List, Optional, Type

from graphfx.errors import GraphFXError
from graphfx.decoders.base import GraphDecoder

#: The entry-point group scanned for third-party decoders.
ENTRY_POINT_GROUP = "graphfx.decoders"
#: Modules of this package that hold no decoder.
_NOT_DECODERS = frozenset({"base", "registry", "constraints"})

_REGISTRY: Dict[str, Type[GraphDecoder]] = {}
_builtins_loaded = False
_plugins_loaded = False


def register(name: str) -> Callable[[Type[GraphDecoder]], Type[GraphDecoder]]:
    """Class decorator: registers a :class:`GraphDecoder` subclass under ``name``.

    Registering the same class again is a no-op; another class under a taken name
    raises :class:`GraphFXError`.
    """
    if not isinstance(name, str) or not name:
        raise GraphFXError(f"a decoder name must be a non-empty string, got {name!r}")

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, GraphDecoder)):
            raise GraphFXError(f"@register({name!r}) needs a GraphDecoder subclass, got {cls!r}")
        if cls.Config is None:
            raise GraphFXError(f"decoder {cls.__name__} must define a Config dataclass")
        known = _REGISTRY.get(name)
        if known is not None and known is not cls and _qualname(known) != _qualname(cls):
            raise GraphFXError(f"decoder name {name!r} is taken by {_qualname(known)}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def get(name: str) -> Type[GraphDecoder]:
    """The decoder class registered under ``name``; :class:`GraphFXError` listing the known names if none."""
    _load_builtins()
    if name not in _REGISTRY:
        discover_plugins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GraphFXError(f"unknown decoder {name!r}; known decoders: {', '.join(list_decoders()) or 'none'}") \
            from None


def create(name: str, preset: Optional[str] = None, **config_overrides) -> GraphDecoder:
    """Builds the decoder ``name`` with its ``Config`` (optionally a named preset), overridden by keyword."""
    cls = get(name)
    return cls(cls.make_config(preset, **config_overrides))


def list_decoders(pattern: Optional[str] = None) -> List[str]:
    """Sorted registered names (built-ins and plugins), optionally filtered by a shell-style pattern."""
    _load_builtins()
    discover_plugins()
    names = sorted(_REGISTRY)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def discover_plugins(force: bool = False) -> None:
    """Loads the decoders declared in the ``graphfx.decoders`` entry-point group (once, unless ``force``).

    A plugin that fails to load or is not a :class:`GraphDecoder` subclass is
    skipped with a warning, so one broken package does not hide the others.
    """
    global _plugins_loaded
    if _plugins_loaded and not force:
        return
    _plugins_loaded = True
    for ep in _entry_points():
        if ep.name in _REGISTRY:
            continue
        try:
            cls = ep.load()
            register(ep.name)(cls)
        except Exception as err:  # noqa: BLE001 - a broken plugin must not break graphfx
            warnings.warn(f"could not load graphfx decoder plugin {ep.name!r} ({ep.value}): {err}", RuntimeWarning)


def _entry_points() -> Iterable:
    """The entry points of :data:`ENTRY_POINT_GROUP` (patched in tests)."""
    try:
        return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except TypeError:  # Python < 3.10: a dict of groups
        return importlib.metadata.entry_points().get(ENTRY_POINT_GROUP, ())


def _load_builtins() -> None:
    """Imports every module of :mod:`graphfx.decoders`, running their ``@register`` decorators."""
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    package = importlib.import_module("graphfx.decoders")
    try:
        for info in pkgutil.iter_modules(package.__path__):
            if info.name not in _NOT_DECODERS and not info.name.startswith("_"):
                importlib.import_module(f"graphfx.decoders.{info.name}")
    except BaseException:
        _builtins_loaded = False  # a broken built-in module raises at every lookup, not once
        raise


def _qualname(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
