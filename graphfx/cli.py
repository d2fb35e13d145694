"""The ``graphfx`` command line. Thin: parse, call the library, print with rich.

Every user error (a :class:`~graphfx.errors.GraphFXError`) becomes one line
on stderr and exit code 2.
"""
from __future__ import annotations

import functools
import json
import sys

import click
from rich.console import Console
from rich.table import Table

from graphfx import catalog
from graphfx.errors import GraphFXError

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def user_errors(fn):
    """Turns library errors into one red line and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GraphFXError as err:
            err_console.print(f"[red]error:[/red] {err}", highlight=False, markup=True)
            sys.exit(2)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="graphfx")
def main():
    """graphfx: audio processing graphs — render, synthesize, and estimate them from audio."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
@click.argument("name", required=False)
def processors(as_json, name):
    """List the processor catalog (or one NAME): ports and parameters."""
    if name is not None and name not in catalog.SPECS:
        err_console.print(f"[red]error:[/red] unknown processor type {name!r}; see `graphfx processors`")
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(catalog.to_dict(name), indent=1))
        return
    table = Table(title="graphfx processor catalog", show_lines=False)
    for col in ("type", "family", "inlets", "outlets", "parameters (unit, range, default)"):
        table.add_column(col, overflow="fold")
    for spec in ([catalog.get(name)] if name else catalog.SPECS.values()):
        inlets = ", ".join(f"{i}*" if i in spec.required else i for i in spec.inlets)
        params = "\n".join(
            f"{p.name} {p.unit} [{p.min:g}, {p.max:g}]{' log' if p.scale == 'log' else ''} = {p.default:g}"
            for p in spec.params)
        table.add_row(f"[bold]{spec.name}[/bold]", spec.family, inlets or "-", ", ".join(spec.outlets) or "-",
                      params or "-")
    console.print(table)
    console.print("* required inlet; the other inlets are optional (modulation, sidechain).")


@main.command()
@click.argument("graph_file", type=click.Path(dir_okay=False))
@user_errors
def validate(graph_file):
    """Check GRAPH_FILE against every rule; one line per problem, exit 2 if invalid."""
    from graphfx.graph import AudioGraph

    graph = AudioGraph.load(graph_file).validate()
    console.print(f"[green]valid[/green]: {graph_file} ({len(graph.nodes)} nodes, {len(graph.edges)} edges)")


@main.command()
@click.argument("graph_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Image file (.png, .svg, .pdf).")
@click.option("--canonical", is_flag=True, help="Draw the canonical (LTI-reordered) form.")
@user_errors
def draw(graph_file, output, canonical):
    """Draw GRAPH_FILE as a picture: nodes as [type], ports on edges."""
    from graphfx.graph import AudioGraph

    graph = AudioGraph.load(graph_file).validate()
    if canonical:
        from graphfx.canonical import canonical_form

        graph = canonical_form(graph)
    from graphfx.draw import draw as draw_graph

    try:
        draw_graph(graph, output, title=graph_file)
    except ImportError as err:
        err_console.print(f"[red]error:[/red] {err}")
        sys.exit(2)
    except (OSError, ValueError) as err:
        err_console.print(f"[red]error:[/red] cannot write {output}: {err}")
        sys.exit(2)
    console.print(f"wrote {output}")


@main.command()
@click.argument("graph_file", type=click.Path(dir_okay=False))
@click.option("-i", "--input", "inputs", multiple=True, required=True, metavar="[TRACK=]FILE",
              help="Dry audio. Drum graphs take one per source: --input kick=k.wav --input snare=s.wav ...")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Rendered stereo file.")
@click.option("--no-resample", is_flag=True, help="Fail on a sample-rate mismatch instead of resampling.")
@click.option("--no-normalize", is_flag=True, help="Turn off per-processor energy normalization.")
@user_errors
def render(graph_file, inputs, output, no_resample, no_normalize):
    """Render GRAPH_FILE on dry audio; mono input is promoted to stereo."""
    import torch

    from graphfx.audio import load_audio, save_audio
    from graphfx.errors import AudioError
    from graphfx.graph import AudioGraph
    from graphfx.render import render as render_graph

    graph = AudioGraph.load(graph_file).validate()
    tracks = {}
    for item in inputs:
        name, path = item.split("=", 1) if "=" in item else ("in", item)
        if name in tracks:
            raise AudioError(f"track {name!r} given twice")
        audio, rate = load_audio(path, graph.sample_rate, resample=not no_resample)
        tracks[name] = audio
    if set(tracks) == {"in"} and graph.is_drum_graph():
        raise AudioError("this is a drum graph: give one --input TRACK=FILE per source "
                         f"({', '.join(n.type for n in graph.nodes if n.spec.terminal and n.type != 'out')})")
    length = max(a.shape[-1] for a in tracks.values())
    batch = {k: torch.nn.functional.pad(a, (0, length - a.shape[-1]))[None] for k, a in tracks.items()}
    wet = render_graph(graph, batch, sample_rate=graph.sample_rate, normalize=not no_normalize)[0]
    save_audio(output, wet, graph.sample_rate)
    peak = float(wet.abs().max())
    console.print(f"wrote {output} ({length / graph.sample_rate:.2f} s, stereo, {graph.sample_rate} Hz, "
                  f"peak {peak:.2f}{' — above full scale, stored as float' if peak > 1 else ''})")


if __name__ == "__main__":  # pragma: no cover
    main()
