"""Prints a generated drum groove as a grid: ``python tools/grooves.py [SEED]``.

The grooves the stem tools play come from :mod:`graphfx.sources.grooves`
(:func:`~graphfx.sources.grooves.make_groove`), the generator of the built-in drums.
"""
import sys

from graphfx.sources.grooves import grid, make_groove

if __name__ == "__main__":
    print(grid(make_groove(8.0, int(sys.argv[1]) if len(sys.argv) > 1 else 0)))
